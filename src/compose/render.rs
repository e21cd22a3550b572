//! Writing a tier into a compose file without touching anything else.
//!
//! The edit is made on `yaml-edit`'s lossless tree, so comments, blank lines, key order,
//! quoting and anchors outside the edited values stay byte for byte. Only these change:
//! - `deploy.resources.{limits,reservations}.{cpus,memory}` of the roles being changed:
//!   values replaced where present (and left alone where they already are the tier's),
//!   missing mappings created (`limits` before `reservations`, `cpus` before `memory`);
//! - the tier's MySQL/Redis flags in the db/redis `command:` (see `command_flags`); a
//!   service without one gets a list (`redis-server` first for Redis: the official image
//!   runs redis-server only when the command starts with it; the mysql image takes a
//!   command of flags alone as mysqld flags).
//!
//! `yaml-edit` indents every new block two spaces past its key. Files indented otherwise
//! get the new block's indentation tokens rewritten to the file's own step right after
//! the insert, on the inserted subtree only.
//!
//! Then the result is parsed strictly and compared with what was asked for: the roles
//! changed must read as the tier, everything else (other roles, other services, other
//! keys, other flags) must read exactly as before. A render that fails that check is an
//! error, never a file.

use std::collections::BTreeMap;
use std::str::FromStr;

use rowan::ast::AstNode;
use rowan::{GreenNode, GreenToken, Language, NodeOrToken};
use serde_yaml_ng::Value;
use yaml_edit::{
    CoreScalarType, Document, Lang, Mapping, Scalar, ScalarStyle, ScalarValue, Sequence,
    SyntaxKind, YamlFile,
};

use super::command_flags::{self, Form, Slot};
use super::read::{self, command_words, role_name, role_service};
use super::resources::{ResKey, Wanted, conflicts, substitute};
use super::{ComposeError, ComposeFile, Rendered, env, redact};
use crate::roles::{Role, RoleMap};
use crate::settings::{
    Observed, ObservedMysql, ObservedRedis, ObservedResources, Resources, Target,
};

type SyntaxNode = rowan::SyntaxNode<Lang>;

/// How the file indents: the step between a key and its nested keys, and how far a
/// block list's `-` sits past its key (`0` for `key:\n- item`).
#[derive(Debug, Clone, Copy)]
struct Indent {
    step: usize,
    list: usize,
}

pub(crate) fn render(
    file: &ComposeFile,
    roles: &RoleMap,
    target: &Target,
) -> Result<Rendered, ComposeError> {
    let before = file.observe(roles)?;
    let internal = |detail: String| ComposeError::Render {
        path: file.path.clone(),
        detail,
    };
    let source_secrets = file.secret_places().into_iter().map(|s| s.span).collect();
    let tree = file.take_lossless_tree().map_err(internal)?;
    let yaml = YamlFile::cast(SyntaxNode::new_root_mut(tree))
        .ok_or_else(|| internal("the lossless YAML editor gives no document".to_string()))?;
    let services = yaml
        .documents()
        .next()
        .and_then(|d| d.as_mapping())
        .and_then(|m| m.get_mapping("services"))
        .ok_or_else(|| internal("the lossless YAML editor finds no `services:`".to_string()))?;
    let editor = Editor {
        file,
        roles,
        indent: detect_indent(&file.text, &services),
        services,
    };

    if let Some(mysql) = &target.mysql {
        editor.command(Role::Db, |words, _| command_flags::edit_mysql(words, mysql))?;
    }
    if let Some(redis) = &target.redis {
        editor.command(Role::Redis, |words, form| {
            command_flags::edit_redis(words, form, redis)
        })?;
    }
    let mut want = BTreeMap::new();
    for (role, resources) in &target.resources {
        let skipped = editor.resources(*role, resources)?;
        let mut reads_as = ObservedResources::from(resources);
        if skipped.contains(&ResKey::ReserveCpus) {
            reads_as.reserve_cpus = before.services[role].reserve_cpus;
        }
        want.insert(*role, reads_as);
    }

    let out = super::lossless::text_of(&yaml.syntax().green());
    let secrets = redact::find(&yaml.syntax().green())
        .into_iter()
        .map(|s| s.span)
        .collect();
    // The lossless tree is no longer needed: free it before the result is parsed.
    drop(editor);
    drop(yaml);
    let file = verify(file, roles, target, &before, &want, out)?;
    Ok(Rendered {
        file,
        secrets,
        source_secrets,
    })
}

/// The column where the line holding byte `offset` of `text` starts its content at
/// `offset` (bytes; indentation is spaces).
fn column(text: &str, offset: usize) -> usize {
    offset - text[..offset].rfind('\n').map_or(0, |i| i + 1)
}

fn detect_indent(text: &str, services: &Mapping) -> Indent {
    let service_col = services.detect_indentation_level();
    // Walked lazily: the first few services tell, and a file can have thousands.
    let blocks = || {
        services
            .values()
            .filter_map(|v| v.as_mapping().cloned())
            .filter(|m| !m.is_flow_style() && !m.is_empty())
    };
    let step = blocks()
        .next()
        .map(|m| m.detect_indentation_level())
        .filter(|col| *col > service_col)
        .map_or(2, |col| col - service_col);
    // The first block list that is a service key's value shows how lists are indented.
    let list = blocks()
        .find_map(|m| {
            let key_col = m.detect_indentation_level();
            m.values().find_map(|v| {
                let seq = v.as_sequence()?;
                if seq.is_flow_style() || seq.is_empty() {
                    return None;
                }
                let start = usize::from(seq.syntax().text_range().start());
                column(text, start).checked_sub(key_col)
            })
        })
        .unwrap_or(step);
    Indent { step, list }
}

struct Editor<'a> {
    file: &'a ComposeFile,
    roles: &'a RoleMap,
    indent: Indent,
    services: Mapping,
}

impl Editor<'_> {
    fn unsupported(&self, service: &str, what: &str, hint: &str) -> ComposeError {
        ComposeError::Unsupported {
            path: self.file.path.clone(),
            service: service.to_string(),
            what: what.to_string(),
            hint: hint.to_string(),
        }
    }

    fn service(&self, role: Role) -> Result<Mapping, ComposeError> {
        let name = role_name(self.file, self.roles, role)?;
        self.services.get_mapping(name).ok_or_else(|| {
            self.unsupported(
                name,
                "it is not written as a mapping of its own (an alias?)",
                "write the service's keys out under its name",
            )
        })
    }

    /// Writes `resources` into the role's service in the form it uses (see
    /// `resources.rs`): a value is changed where it is written, in `deploy.resources`, at
    /// its service-level key (`cpus`, `mem_limit`, `mem_reservation`), or at both (alike);
    /// a missing value goes into `deploy.resources`, unless the service sizes itself with
    /// service-level keys only: then it joins them (a CPU reservation, which has no such
    /// key and which Docker ignores outside swarm, is then not written). Returns the
    /// values left out.
    fn resources(&self, role: Role, resources: &Resources) -> Result<Vec<ResKey>, ComposeError> {
        let name = role_name(self.file, self.roles, role)?;
        let svc = self.service(role)?;
        let deploy_res = child_mapping(&svc, "deploy").and_then(|d| child_mapping(&d, "resources"));
        let legacy_key = |k: ResKey| k.legacy().filter(|l| svc.contains_key(*l));
        let legacy_form =
            deploy_res.is_none() && ResKey::ALL.iter().any(|k| legacy_key(*k).is_some());
        let mut to_deploy = Vec::new();
        let mut skipped = Vec::new();
        for key in ResKey::ALL {
            let wanted = key.wanted(resources);
            let in_deploy = deploy_res
                .as_ref()
                .and_then(|r| child_mapping(r, key.section()))
                .is_some_and(|m| m.contains_key(key.leaf()));
            match legacy_key(key) {
                Some(legacy) => {
                    self.set_value(name, &svc, legacy, legacy, &wanted, &[])?;
                    if in_deploy {
                        to_deploy.push(key);
                    }
                }
                None if legacy_form => match key.legacy() {
                    Some(legacy) => {
                        let order = ["cpus", "mem_limit", "mem_reservation"];
                        let after = order
                            .iter()
                            .take_while(|k| **k != legacy)
                            .filter(|k| svc.contains_key(**k))
                            .last();
                        // A new memory value is spelled like its sibling (`4g`, not `4G`).
                        let like = ["mem_limit", "mem_reservation"].iter().find_map(|k| {
                            svc.get(*k)
                                .and_then(|v| v.as_scalar().map(|s| s.as_string()))
                        });
                        let value = new_scalar(key, &wanted, like.as_deref());
                        match after {
                            Some(after) => {
                                svc.insert_after(*after, legacy, value);
                            }
                            None => {
                                let before = order.iter().find(|k| svc.contains_key(**k));
                                svc.insert_before(before.expect("legacy form"), legacy, value);
                            }
                        }
                    }
                    None => skipped.push(key),
                },
                None => to_deploy.push(key),
            }
        }
        self.deploy(name, &svc, resources, &to_deploy)?;
        Ok(skipped)
    }

    /// Writes `keys` of `resources` into the service's `deploy.resources`, creating the
    /// mappings that are missing (`limits` before `reservations`, `cpus` before `memory`).
    fn deploy(
        &self,
        name: &str,
        svc: &Mapping,
        resources: &Resources,
        keys: &[ResKey],
    ) -> Result<(), ComposeError> {
        if keys.is_empty() {
            return Ok(());
        }
        let Some(deploy) = child_mapping(svc, "deploy") else {
            let text = format!("resources:\n{}", resources_yaml(resources, keys, 1));
            return self.put_block(svc, "deploy", block_mapping(&text), &[], None);
        };
        let Some(res) = child_mapping(&deploy, "resources") else {
            let text = resources_yaml(resources, keys, 0);
            return self.put_block(&deploy, "resources", block_mapping(&text), &[], None);
        };
        let order = ["limits", "reservations"];
        for section in order {
            let in_section: Vec<ResKey> = keys
                .iter()
                .copied()
                .filter(|k| k.section() == section)
                .collect();
            if in_section.is_empty() {
                continue;
            }
            let Some(map) = child_mapping(&res, section) else {
                let text = allocation_yaml(resources, &in_section, 0);
                self.put_block(&res, section, block_mapping(&text), &order, None)?;
                continue;
            };
            for key in in_section {
                let path = key.deploy_path();
                self.set_value(
                    name,
                    &map,
                    key.leaf(),
                    &path,
                    &key.wanted(resources),
                    &["cpus", "memory"],
                )?;
            }
        }
        Ok(())
    }

    /// Sets `map[key]` to `wanted`, in the style the old value is written in; a value
    /// already equal is left as it is. A value from a variable is changed only where the
    /// variable's default is what Compose uses (`${DB_MEMORY:-2g}` with `DB_MEMORY` unset
    /// becomes `${DB_MEMORY:-4G}`); where the variable is set, the value comes from
    /// outside the file and the role is refused, naming the variable and its place.
    fn set_value(
        &self,
        name: &str,
        map: &Mapping,
        key: &str,
        shown: &str,
        wanted: &Wanted,
        order: &[&str],
    ) -> Result<(), ComposeError> {
        let flow = map.is_flow_style();
        let old = map.get(key).and_then(|v| v.as_scalar().cloned());
        let Some(old) = old.filter(|s| !s.is_null()) else {
            let value = match wanted {
                // Quoted, as the plan writes it: `cpus: '8'`.
                Wanted::Cpus(c) => scalar(&c.to_string(), ScalarStyle::SingleQuoted, flow),
                Wanted::Memory(_) => scalar(&wanted.text_like(None), ScalarStyle::Plain, flow),
            };
            map.set_with_field_order(key, value, order.iter().copied());
            return Ok(());
        };
        let raw = old.as_string();
        let style = ScalarValue::from_scalar(&old).style();
        let new = if env::has_variables(&raw) {
            if substitute(&raw, &self.file.env).is_ok_and(|v| wanted.is(&v)) {
                return Ok(());
            }
            self.variable_default(name, shown, &raw, wanted)?
        } else {
            if wanted.is(&raw) {
                return Ok(());
            }
            wanted.text_like(Some(&raw))
        };
        let value = match (wanted, style) {
            // `deploy.resources` CPUs quoted, as the plan writes them: `cpus: '8'`; a
            // service-level `cpus: 1.5` stays a number.
            (Wanted::Cpus(_), _) if key != shown => scalar(&new, ScalarStyle::SingleQuoted, flow),
            (Wanted::Cpus(_), ScalarStyle::Plain) => raw_scalar(&new),
            (_, style) => scalar(&new, style, flow),
        };
        map.set_with_field_order(key, value, order.iter().copied());
        Ok(())
    }

    /// `${VAR:-default}` with the default set to `wanted`, when that default is what
    /// Compose uses; else the refusal that says where the value comes from.
    fn variable_default(
        &self,
        name: &str,
        shown: &str,
        raw: &str,
        wanted: &Wanted,
    ) -> Result<String, ComposeError> {
        let refs = env::references(raw).unwrap_or_default();
        if let [only] = refs.as_slice()
            && only.span == (0..raw.len())
            && let Some(default) = &only.default
            && !env::has_variables(default)
        {
            let colon = raw.starts_with(&format!("${{{}:-", only.name));
            let set = self
                .file
                .env
                .get(&only.name)
                .is_some_and(|v| !(colon && v.value.is_empty()));
            if !set {
                let head = raw.len() - 1 - default.len();
                return Ok(format!(
                    "{}{}}}",
                    &raw[..head],
                    wanted.text_like(Some(default))
                ));
            }
        }
        let places: Vec<String> = refs
            .iter()
            .map(|r| match self.file.env.get(&r.name).map(|v| &v.source) {
                Some(env::Source::DotEnv { path, line }) => {
                    format!("`{}` is set in `{}` line {line}", r.name, path.display())
                }
                Some(env::Source::Process) => {
                    format!("`{}` is set in the environment xzup runs in", r.name)
                }
                None => format!("`{}` is not set", r.name),
            })
            .collect();
        let vars: Vec<String> = refs.iter().map(|r| format!("`{}`", r.name)).collect();
        let role = self.roles.role_of(name).map_or("this", Role::name);
        let others: Vec<&str> = Role::ALL
            .iter()
            .filter(|r| r.name() != role)
            .map(|r| r.name())
            .collect();
        Err(self.unsupported(
            name,
            &format!(
                "its `{shown}: {raw}` comes from the environment ({})",
                places.join(", ")
            ),
            &format!(
                "set {} to `{}` where it is set, or write the value out in the compose file, \
                 or leave the {role} role out with `--only {}`; xzup does not change `.env`: \
                 the current compose file reads it too, so going back to it would keep the new size",
                vars.join(", "),
                wanted.text_like(
                    refs.first()
                        .and_then(|r| self.file.env.get(&r.name))
                        .map(|v| v.value.as_str())
                ),
                others.join(",")
            ),
        ))
    }

    /// Edits the role's `command:` with `edit`, in the form it is written in.
    fn command(
        &self,
        role: Role,
        edit: impl Fn(&[String], Form) -> Vec<Slot>,
    ) -> Result<(), ComposeError> {
        let name = role_name(self.file, self.roles, role)?;
        let strict = role_service(self.file, self.roles, role)?;
        let current = command_words(self.file, name, strict)?;
        let others = self.other_roles(role);
        let leave_out =
            format!("to size the other roles now, leave this one out: `--only {others}`");
        let shell_entrypoint = strict
            .get("entrypoint")
            .and_then(|e| match e {
                serde_yaml_ng::Value::String(s) => command_flags::split_string(s)
                    .map(|t| t.into_iter().map(|t| t.text).collect::<Vec<_>>()),
                serde_yaml_ng::Value::Sequence(items) => {
                    Some(items.iter().filter_map(read::scalar_text).collect())
                }
                _ => None,
            })
            .is_some_and(|words| command_flags::runs_a_shell(&words));
        if let Some((_, words)) = &current
            && (command_flags::runs_a_shell(words) || shell_entrypoint)
        {
            return Err(self.unsupported(
                name,
                "its `command:` runs a shell, and the flags are inside the shell's script",
                &format!(
                    "set the flags in the script by hand, or write `command:` as a list of \
                     the program's arguments; {leave_out}"
                ),
            ));
        }
        let svc = self.service(role)?;
        match svc.get("command") {
            Some(node) if node.as_sequence().is_some() => {
                let seq = node.as_sequence().expect("checked").clone();
                let words = current.map(|(_, w)| w).unwrap_or_default();
                let slots = edit(&read::substituted(self.file, &words), Form::List);
                self.no_variables_changed(name, &words, &slots)?;
                if !command_flags::unchanged(words.len(), &slots) {
                    apply_to_sequence(&seq, words.len(), &slots);
                }
                Ok(())
            }
            Some(node) if node.as_scalar().is_some_and(|s| !s.is_null()) => {
                let old = node.as_scalar().expect("checked");
                let style = ScalarValue::from_scalar(old).style();
                if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
                    return self.block_command(name, old, style, &edit, &leave_out);
                }
                let text = old.as_string();
                let tokens = command_flags::split_string(&text).ok_or_else(|| {
                    self.unsupported(name, "its `command:` has an unclosed quote", "close it")
                })?;
                let words: Vec<String> = tokens.iter().map(|t| t.text.clone()).collect();
                let slots = edit(&read::substituted(self.file, &words), Form::String);
                self.no_variables_changed(name, &words, &slots)?;
                if command_flags::unchanged(words.len(), &slots) {
                    return Ok(());
                }
                let new = command_flags::rewrite_string(&text, &tokens, &slots);
                let style = match style {
                    ScalarStyle::Plain if !plain_ok(&new, svc.is_flow_style()) => {
                        ScalarStyle::DoubleQuoted
                    }
                    other => other,
                };
                svc.set("command", scalar(&new, style, svc.is_flow_style()));
                Ok(())
            }
            // No `command:` of its own (or an empty one): write a list. A command merged
            // in from elsewhere (`<<: *common`) is the base, as Compose would run it.
            Some(node) if node.as_scalar().is_some() || node.is_alias() => {
                self.new_command(&svc, role, current, &edit)
            }
            None => self.new_command(&svc, role, current, &edit),
            Some(_) => Err(self.unsupported(
                name,
                "its `command:` is neither a string nor a list",
                "write `command:` as a list of arguments",
            )),
        }
    }

    /// Refuses an edit that would change or drop a command word holding a variable
    /// (`--innodb_buffer_pool_size=${DB_BUFFER:-1G}`): its value comes from elsewhere.
    fn no_variables_changed(
        &self,
        name: &str,
        words: &[String],
        slots: &[Slot],
    ) -> Result<(), ComposeError> {
        let mut kept = vec![false; words.len()];
        for slot in slots {
            if let Slot::Keep(i) = slot {
                kept[*i] = true;
            }
        }
        let Some(word) = words
            .iter()
            .zip(&kept)
            .find(|(w, k)| !**k && env::has_variables(w))
            .map(|(w, _)| w)
        else {
            return Ok(());
        };
        let role = self.roles.role_of(name).unwrap_or(Role::Db);
        Err(self.unsupported(
            name,
            &format!("its `command:` word `{word}` takes its value from a variable"),
            &format!(
                "set the variable to the tier's value where it is set, or write the value \
                 out in the command; to size the other roles now, leave this one out: \
                 `--only {}`",
                self.other_roles(role)
            ),
        ))
    }

    /// The roles other than `role`, for an `--only` hint.
    fn other_roles(&self, role: Role) -> String {
        Role::ALL
            .iter()
            .filter(|r| **r != role)
            .map(|r| r.name())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A `command:` written as a block string: `>` (folded: its lines are one line) or
    /// `|` (literal). Compose splits either into words like a one-line string, so the
    /// words are edited in place, line by line; a new flag goes on a line of its own,
    /// indented like the others. A `|` block that is a script (several commands, shell
    /// operators) is not a list of arguments: refused, saying how to go on.
    fn block_command(
        &self,
        name: &str,
        old: &Scalar,
        style: ScalarStyle,
        edit: &impl Fn(&[String], Form) -> Vec<Slot>,
        leave_out: &str,
    ) -> Result<(), ComposeError> {
        let node = old.syntax();
        let src = node.text().to_string();
        let header_end = src.find('\n').map_or(src.len(), |n| n + 1);
        let (header, body) = src.split_at(header_end);
        if style == ScalarStyle::Literal && command_flags::is_script(body) {
            return Err(self.unsupported(
                name,
                "its `command:` is a `|` block that runs a shell script; xzup edits flags \
                 only where they are the program's own arguments, never inside a script",
                &format!("set the flags in the script by hand; {leave_out}"),
            ));
        }
        let tokens = command_flags::split_string(body).ok_or_else(|| {
            self.unsupported(name, "its `command:` has an unclosed quote", "close it")
        })?;
        let words: Vec<String> = tokens.iter().map(|t| t.text.clone()).collect();
        let slots = edit(&read::substituted(self.file, &words), Form::String);
        self.no_variables_changed(name, &words, &slots)?;
        if command_flags::unchanged(words.len(), &slots) {
            return Ok(());
        }
        let newline = if body.contains("\r\n") { "\r\n" } else { "\n" };
        let indent: String = body.chars().take_while(|c| *c == ' ').collect();
        let new_line = format!("{newline}{indent}");
        let new_body = command_flags::rewrite_string_with(body, &tokens, &slots, |word| {
            if word.starts_with("--") {
                new_line.clone()
            } else {
                " ".to_string()
            }
        });
        let replacement = Document::from_str(&format!("{header}{new_body}"))
            .ok()
            .and_then(|d| d.as_scalar())
            .ok_or_else(|| ComposeError::Render {
                path: self.file.path.clone(),
                detail: "the edited block `command:` does not parse".to_string(),
            })?;
        let fresh = replacement.syntax().clone_subtree().clone_for_update();
        let children: Vec<_> = fresh.children_with_tokens().collect();
        for child in &children {
            child.detach();
        }
        // Detached one by one: rowan's `splice_children` stops deleting after the first
        // child of a range (its iterator ends at the detached node).
        let old_children: Vec<_> = node.children_with_tokens().collect();
        for child in old_children {
            child.detach();
        }
        node.splice_children(0..0, children);
        Ok(())
    }

    fn new_command(
        &self,
        svc: &Mapping,
        role: Role,
        current: Option<(Form, Vec<String>)>,
        edit: &impl Fn(&[String], Form) -> Vec<Slot>,
    ) -> Result<(), ComposeError> {
        let base = match current {
            Some((_, words)) => words,
            None if role == Role::Redis => vec!["redis-server".to_string()],
            None => Vec::new(),
        };
        let words = command_flags::apply(&base, &edit(&base, Form::List));
        let text: String = words
            .iter()
            .map(|w| format!("- {}\n", scalar_text(w, ScalarStyle::Plain, false)))
            .collect();
        let seq = Document::from_str(&text)
            .ok()
            .and_then(|d| d.as_sequence())
            .ok_or_else(|| ComposeError::Render {
                path: self.file.path.clone(),
                detail: "building the new `command:` list failed".to_string(),
            })?;
        self.put_block(svc, "command", Block::Sequence(seq), &[], Some("deploy"))
    }

    /// Puts `key: block` into `parent` (replacing a value that is not a mapping, such as
    /// an empty one), before `before` if that key is there, else in `order`, else last;
    /// then indents the new block the file's way.
    fn put_block(
        &self,
        parent: &Mapping,
        key: &str,
        block: Block,
        order: &[&str],
        before: Option<&str>,
    ) -> Result<(), ComposeError> {
        let exists = parent.contains_key(key);
        let put = |value: &dyn yaml_edit::AsYaml| {
            match before.filter(|b| !exists && parent.contains_key(*b)) {
                Some(b) => {
                    parent.insert_before(b, key, value);
                }
                None => parent.set_with_field_order(key, value, order.iter().copied()),
            };
        };
        let is_list = matches!(block, Block::Sequence(_));
        match &block {
            Block::Mapping(m) => put(m),
            Block::Sequence(s) => put(s),
        }
        if parent.is_flow_style() {
            // yaml-edit wrote it in flow form, on the key's line.
            return Ok(());
        }
        let key_col = parent.detect_indentation_level();
        let entry = parent
            .find_entry_by_key(key)
            .ok_or_else(|| ComposeError::Render {
                path: self.file.path.clone(),
                detail: format!("the new `{key}:` is not where it was put"),
            })?;
        let indent = self.indent;
        reindent(entry.syntax(), key_col, |level| {
            if is_list {
                key_col + indent.list + (level - 1) * indent.step
            } else {
                key_col + level * indent.step
            }
        })
        .map_err(|detail| ComposeError::Render {
            path: self.file.path.clone(),
            detail,
        })
    }
}

/// A block to insert.
enum Block {
    Mapping(Mapping),
    Sequence(Sequence),
}

fn block_mapping(text: &str) -> Block {
    let doc = Document::from_str(text).expect("xzup's own YAML parses");
    Block::Mapping(doc.as_mapping().expect("xzup's own YAML is a mapping"))
}

/// `parent[key]` when it is a mapping written in the file (block or flow).
fn child_mapping(parent: &Mapping, key: &str) -> Option<Mapping> {
    parent.get(key).and_then(|v| v.as_mapping().cloned())
}

/// `keys` of `resources` (`cpus: '8'`, `memory: 16G`) at `level` steps of two spaces
/// (the step is fixed later, see [`reindent`]).
fn allocation_yaml(resources: &Resources, keys: &[ResKey], level: usize) -> String {
    let pad = "  ".repeat(level);
    keys.iter()
        .map(|key| match key.wanted(resources) {
            Wanted::Cpus(c) => format!("{pad}cpus: '{c}'\n"),
            Wanted::Memory(m) => format!(
                "{pad}memory: {}\n",
                scalar_text(&m.text, ScalarStyle::Plain, false)
            ),
        })
        .collect()
}

fn resources_yaml(resources: &Resources, keys: &[ResKey], level: usize) -> String {
    let pad = "  ".repeat(level);
    ["limits", "reservations"]
        .iter()
        .filter_map(|section| {
            let in_section: Vec<ResKey> = keys
                .iter()
                .copied()
                .filter(|k| k.section() == *section)
                .collect();
            (!in_section.is_empty()).then(|| {
                format!(
                    "{pad}{section}:\n{}",
                    allocation_yaml(resources, &in_section, level + 1)
                )
            })
        })
        .collect()
}

/// A new value for a service-level key (`cpus: 8`, `mem_limit: 16G`).
fn new_scalar(key: ResKey, wanted: &Wanted, like: Option<&str>) -> Scalar {
    match (key.is_cpus(), wanted) {
        (true, Wanted::Cpus(c)) => scalar(&c.to_string(), ScalarStyle::SingleQuoted, false),
        _ => scalar(&wanted.text_like(like), ScalarStyle::Plain, false),
    }
}

/// `text` as a plain scalar node, whatever it reads as (a number stays a number).
fn raw_scalar(text: &str) -> Scalar {
    Document::from_str(text)
        .ok()
        .and_then(|d| d.as_scalar())
        .expect("a scalar xzup wrote parses as one")
}

/// Rewrites the indentation inside a block yaml-edit just built (two spaces per level
/// past `key_col`) to `width(level)`.
fn reindent(
    entry: &SyntaxNode,
    key_col: usize,
    width: impl Fn(usize) -> usize,
) -> Result<(), String> {
    let indents: Vec<_> = entry
        .descendants_with_tokens()
        .filter_map(NodeOrToken::into_token)
        .filter(|t| t.kind() == SyntaxKind::INDENT)
        .collect();
    for token in indents {
        let len = token.text().len();
        let steps = len.checked_sub(key_col).filter(|d| *d > 0 && d % 2 == 0);
        let Some(steps) = steps else {
            return Err(format!(
                "a new block is indented {len} spaces under a key at column {key_col}"
            ));
        };
        let want = width(steps / 2);
        if want == len {
            continue;
        }
        let parent = token.parent().expect("an INDENT token has a parent");
        let index = token.index();
        parent.splice_children(
            index..index + 1,
            vec![NodeOrToken::Token(indent_token(want))],
        );
    }
    Ok(())
}

/// A free-standing INDENT token of `width` spaces, to splice into the tree.
fn indent_token(width: usize) -> rowan::SyntaxToken<Lang> {
    let kind = Lang::kind_to_raw(SyntaxKind::INDENT);
    let token = GreenToken::new(kind, &" ".repeat(width));
    let root = SyntaxNode::new_root_mut(GreenNode::new(
        Lang::kind_to_raw(SyntaxKind::ROOT),
        [NodeOrToken::Token(token)],
    ));
    let token = root.first_token().expect("built with one token");
    token.detach();
    token
}

/// Whether `text` can be written as a plain scalar and read back as the same string.
fn plain_ok(text: &str, flow: bool) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    let starts_ok = match first {
        '-' => text.chars().nth(1).is_some_and(|c| !c.is_whitespace()),
        c => !"?:,[]{}#&*!|>'\"%@`".contains(c) && !c.is_whitespace(),
    };
    starts_ok
        && !text.ends_with(char::is_whitespace)
        && !text.ends_with(':')
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.contains(['\n', '\r', '\t'])
        && !(flow && text.contains([',', '[', ']', '{', '}']))
        && ScalarValue::classify_plain(text) == CoreScalarType::String
        && !yaml_11_non_string(text)
}

/// Plain words YAML 1.1 readers (PyYAML, so Compose v1) take for something other than a
/// string, where YAML 1.2 reads a string: `yes`/`no`/`on`/`off`, `1_000`, `1:30`.
fn yaml_11_non_string(text: &str) -> bool {
    const WORDS: [&str; 8] = ["y", "n", "yes", "no", "on", "off", "true", "false"];
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    WORDS.iter().any(|w| w.eq_ignore_ascii_case(text))
        || text == "="
        || (unsigned.starts_with(|c: char| c.is_ascii_digit())
            && unsigned
                .chars()
                .all(|c| c.is_ascii_digit() || "_:.".contains(c)))
}

/// `text` written as a YAML scalar in `style`; single-quoted when plain would not read
/// back as the same string.
fn scalar_text(text: &str, style: ScalarStyle, flow: bool) -> String {
    match style {
        ScalarStyle::Plain if plain_ok(text, flow) => text.to_string(),
        ScalarStyle::DoubleQuoted => ScalarValue::double_quoted(text).to_yaml_string(),
        _ => ScalarValue::single_quoted(text).to_yaml_string(),
    }
}

/// A scalar node holding `text` as [`scalar_text`] writes it. yaml-edit copies a node
/// as it is, where a `ScalarValue` would be re-quoted by its own rules (it quotes every
/// string starting with `-`, and the plan writes `- --max_connections=2000` plain).
fn scalar(text: &str, style: ScalarStyle, flow: bool) -> Scalar {
    let yaml = scalar_text(text, style, flow);
    Document::from_str(&yaml)
        .ok()
        .and_then(|d| d.as_scalar())
        .expect("a scalar xzup wrote parses as one")
}

fn item_style(seq: &Sequence, index: usize) -> Option<ScalarStyle> {
    seq.get(index)?
        .as_scalar()
        .map(|s| ScalarValue::from_scalar(s).style())
}

/// Applies `slots` to a list `command:` of `len` items, item by item: kept items are not
/// touched (their comments stay), changed items keep their quoting, new items take their
/// neighbour's.
fn apply_to_sequence(seq: &Sequence, len: usize, slots: &[Slot]) {
    let flow = seq.is_flow_style();
    let mut pos = 0;
    let mut next_old = 0;
    for slot in slots {
        match slot {
            Slot::Keep(i) | Slot::Change(i, _) => {
                while next_old < *i {
                    seq.remove(pos);
                    next_old += 1;
                }
                if let Slot::Change(_, text) = slot {
                    let style = item_style(seq, pos).unwrap_or(ScalarStyle::Plain);
                    seq.set(pos, scalar(text, style, flow));
                }
                pos += 1;
                next_old = i + 1;
            }
            Slot::New(text) => {
                let style = pos
                    .checked_sub(1)
                    .and_then(|p| item_style(seq, p))
                    .or_else(|| item_style(seq, pos))
                    .unwrap_or(ScalarStyle::Plain);
                seq.insert(pos, scalar(text, style, flow));
                pos += 1;
            }
        }
    }
    while next_old < len {
        seq.remove(pos);
        next_old += 1;
    }
}

fn show<T: std::fmt::Display>(value: &Option<T>) -> String {
    value
        .as_ref()
        .map_or_else(|| "nothing".to_string(), |v| format!("`{v}`"))
}

fn describe(r: &ObservedResources) -> String {
    format!(
        "limits {}/{}, reservations {}/{}",
        show(&r.limit_cpus),
        show(&r.limit_memory),
        show(&r.reserve_cpus),
        show(&r.reserve_memory)
    )
}

/// Checks the rendered text: it parses, the changed roles read as the target, and
/// nothing else reads differently from the source.
fn verify(
    file: &ComposeFile,
    roles: &RoleMap,
    target: &Target,
    before: &Observed,
    want_resources: &BTreeMap<Role, ObservedResources>,
    out: String,
) -> Result<ComposeFile, ComposeError> {
    let fail = |detail: String| ComposeError::Render {
        path: file.path.clone(),
        detail,
    };
    let rendered = ComposeFile::parse_with_env(&file.path, out, file.env.clone())
        .map_err(|e| fail(format!("the result does not parse: {e}")))?;
    let after = rendered
        .observe(roles)
        .map_err(|e| fail(format!("the result cannot be read back: {e}")))?;

    for (role, name) in roles.iter() {
        let want = match want_resources.get(&role) {
            Some(resources) => resources.clone(),
            None => before.services[&role].clone(),
        };
        if want_resources.contains_key(&role)
            && let Ok(svc) = role_service(&rendered, roles, role)
            && let Some((key, _, deploy_key, _)) = conflicts(&rendered, svc).into_iter().next()
        {
            return Err(fail(format!(
                "service `{name}` would set `{key}` and `{deploy_key}` to different values"
            )));
        }
        if after.services[&role] != want {
            return Err(fail(format!(
                "service `{name}` would read {} instead of {}",
                describe(&after.services[&role]),
                describe(&want)
            )));
        }
    }
    let want_mysql = match &target.mysql {
        Some(m) => ObservedMysql::from(m),
        None => before.mysql.clone(),
    };
    if after.mysql != want_mysql {
        return Err(fail(format!(
            "the MySQL flags of `{}` would not read as asked",
            roles.service(Role::Db).unwrap_or_default()
        )));
    }
    let want_redis = match &target.redis {
        Some(r) => ObservedRedis {
            maxmemory: Some(r.maxmemory.clone()),
            maxmemory_policy: Some(r.maxmemory_policy.clone()),
            save: match &r.save {
                Some(rules) => rules
                    .iter()
                    .map(|rule| rule.split_whitespace().collect::<Vec<_>>().join(" "))
                    .collect(),
                None => before.redis.save.clone(),
            },
        },
        None => before.redis.clone(),
    };
    if after.redis != want_redis {
        return Err(fail(format!(
            "the Redis flags of `{}` would not read as asked",
            roles.service(Role::Redis).unwrap_or_default()
        )));
    }

    if let Some(path) = difference_outside_tier_values(file, &rendered, roles, target) {
        return Err(fail(format!(
            "`{path}` would change too, and xzup only changes the tier's values"
        )));
    }
    Ok(rendered)
}

/// The first place where the two documents read differently, the values a render may
/// change left out. Only the edited services are copied (to take those values out);
/// everything else is compared where it stands, so a large file is not copied twice.
fn difference_outside_tier_values(
    old: &ComposeFile,
    new: &ComposeFile,
    roles: &RoleMap,
    target: &Target,
) -> Option<String> {
    let edited: Vec<&str> = Role::ALL
        .iter()
        .filter(|r| {
            target.resources.contains_key(r)
                || (**r == Role::Db && target.mysql.is_some())
                || (**r == Role::Redis && target.redis.is_some())
        })
        .filter_map(|r| roles.service(*r))
        .collect();
    fn services(doc: &serde_yaml_ng::Mapping) -> Option<&serde_yaml_ng::Mapping> {
        doc.get("services").and_then(Value::as_mapping)
    }
    let (Some(a), Some(b)) = (services(&old.doc), services(&new.doc)) else {
        return Some("services".to_string());
    };
    for (key, va) in &old.doc {
        if key.as_str() == Some("services") {
            continue;
        }
        let name = read::scalar_text(key).unwrap_or_else(|| "?".to_string());
        match new.doc.get(key) {
            Some(vb) => {
                if let Some(diff) = first_difference(va, vb, &name) {
                    return Some(diff);
                }
            }
            None => return Some(name),
        }
    }
    if let Some(key) = new.doc.keys().find(|k| !old.doc.contains_key(*k)) {
        return Some(read::scalar_text(key).unwrap_or_else(|| "?".to_string()));
    }
    for (key, va) in a {
        let name = read::scalar_text(key).unwrap_or_else(|| "?".to_string());
        let path = format!("services.{name}");
        let Some(vb) = b.get(key) else {
            return Some(path);
        };
        let diff = if edited.contains(&name.as_str()) {
            let strip = |v: &Value| {
                let mut v = v.clone();
                if let Value::Mapping(svc) = &mut v {
                    strip_tier_values(svc, roles.role_of(&name), target);
                }
                v
            };
            first_difference(&strip(va), &strip(vb), &path)
        } else {
            first_difference(va, vb, &path)
        };
        if diff.is_some() {
            return diff;
        }
    }
    b.keys().find(|k| !a.contains_key(*k)).map(|k| {
        format!(
            "services.{}",
            read::scalar_text(k).unwrap_or_else(|| "?".to_string())
        )
    })
}

/// Takes the values a render of `target` may change out of the service playing `role`.
fn strip_tier_values(svc: &mut serde_yaml_ng::Mapping, role: Option<Role>, target: &Target) {
    let Some(role) = role else {
        return;
    };
    if target.resources.contains_key(&role) {
        for key in ResKey::ALL {
            remove_path(svc, &["deploy", "resources", key.section(), key.leaf()]);
            if let Some(legacy) = key.legacy() {
                svc.remove(legacy);
            }
        }
    }
    let (edited, redis, with_save) = match role {
        Role::Db => (target.mysql.is_some(), false, false),
        Role::Redis => (
            target.redis.is_some(),
            true,
            target.redis.as_ref().is_some_and(|r| r.save.is_some()),
        ),
        _ => (false, false, false),
    };
    if !edited {
        return;
    }
    let words = match svc.get("command") {
        Some(Value::String(s)) => command_flags::split_string(s)
            .map(|t| t.into_iter().map(|t| t.text).collect())
            .unwrap_or_default(),
        Some(Value::Sequence(items)) => items.iter().filter_map(read::scalar_text).collect(),
        _ => Vec::new(),
    };
    let rest = command_flags::without_tier_flags(&words, redis, with_save);
    // No command and the image's default one are the same thing.
    let default: &[&str] = if redis { &["redis-server"] } else { &[] };
    if rest.is_empty() || rest == default {
        svc.remove("command");
    } else {
        svc.insert(
            Value::from("command"),
            Value::Sequence(rest.into_iter().map(Value::from).collect()),
        );
    }
}

/// Removes `map[keys…]`, then every mapping on the way that it left empty (or that was
/// empty, `key:` with no value, since a render may fill those in).
pub(crate) fn remove_path(map: &mut serde_yaml_ng::Mapping, keys: &[&str]) {
    let Some((first, rest)) = keys.split_first() else {
        return;
    };
    if rest.is_empty() {
        map.remove(*first);
        return;
    }
    let empty = match map.get_mut(*first) {
        Some(Value::Mapping(child)) => {
            remove_path(child, rest);
            child.is_empty()
        }
        Some(Value::Null) => true,
        _ => false,
    };
    if empty {
        map.remove(*first);
    }
}

/// The first place where `a` and `b` differ, as a dotted path (values left out: they
/// may be secrets).
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (a, b) {
        (Value::Mapping(a), Value::Mapping(b)) => {
            for (key, va) in a {
                let name = read::scalar_text(key).unwrap_or_else(|| "?".to_string());
                match b.get(key) {
                    Some(vb) => {
                        if let Some(diff) = first_difference(va, vb, &join(&name)) {
                            return Some(diff);
                        }
                    }
                    None => return Some(join(&name)),
                }
            }
            b.keys()
                .find(|key| !a.contains_key(*key))
                .map(|key| join(&read::scalar_text(key).unwrap_or_else(|| "?".to_string())))
        }
        (Value::Sequence(a), Value::Sequence(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (va, vb))| first_difference(va, vb, &format!("{path}[{i}]"))),
        _ => (a != b).then(|| {
            if path.is_empty() {
                "(the whole file)".to_string()
            } else {
                path.to_string()
            }
        }),
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
