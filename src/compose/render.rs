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
use super::{ComposeError, ComposeFile};
use crate::roles::{Role, RoleMap};
use crate::settings::{
    Allocation, Observed, ObservedMysql, ObservedRedis, ObservedResources, Resources, Target,
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
) -> Result<String, ComposeError> {
    let before = file.observe(roles)?;
    let internal = |detail: String| ComposeError::Render {
        path: file.path.clone(),
        detail,
    };
    let yaml = YamlFile::from_str(&file.text)
        .map_err(|e| internal(format!("the lossless YAML editor cannot read it: {e}")))?;
    if yaml.to_string() != file.text {
        return Err(internal(
            "the lossless YAML editor does not give the file back unchanged".to_string(),
        ));
    }
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
    for (role, resources) in &target.resources {
        editor.resources(*role, resources, &before.services[role])?;
    }

    let out = yaml.to_string();
    verify(file, roles, target, &before, &out)?;
    Ok(out)
}

/// The column where the line holding byte `offset` of `text` starts its content at
/// `offset` (bytes; indentation is spaces).
fn column(text: &str, offset: usize) -> usize {
    offset - text[..offset].rfind('\n').map_or(0, |i| i + 1)
}

fn detect_indent(text: &str, services: &Mapping) -> Indent {
    let service_col = services.detect_indentation_level();
    let blocks: Vec<Mapping> = services
        .values()
        .filter_map(|v| v.as_mapping().cloned())
        .filter(|m| !m.is_flow_style() && !m.is_empty())
        .collect();
    let step = blocks
        .first()
        .map(|m| m.detect_indentation_level())
        .filter(|col| *col > service_col)
        .map_or(2, |col| col - service_col);
    // The first block list that is a service key's value shows how lists are indented.
    let list = blocks
        .iter()
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

    /// Writes `resources` into the role's `deploy.resources`, creating what is missing.
    fn resources(
        &self,
        role: Role,
        resources: &Resources,
        current: &ObservedResources,
    ) -> Result<(), ComposeError> {
        let svc = self.service(role)?;
        let Some(deploy) = child_mapping(&svc, "deploy") else {
            let text = format!("resources:\n{}", resources_yaml(resources, 1));
            return self.put_block(&svc, "deploy", block_mapping(&text), &[], None);
        };
        let Some(res) = child_mapping(&deploy, "resources") else {
            let text = resources_yaml(resources, 0);
            return self.put_block(&deploy, "resources", block_mapping(&text), &[], None);
        };
        let order = ["limits", "reservations"];
        for (section, alloc, cpus_now, memory_now) in [
            (
                "limits",
                &resources.limits,
                &current.limit_cpus,
                &current.limit_memory,
            ),
            (
                "reservations",
                &resources.reservations,
                &current.reserve_cpus,
                &current.reserve_memory,
            ),
        ] {
            let Some(map) = child_mapping(&res, section) else {
                let text = allocation_yaml(alloc, 0);
                self.put_block(&res, section, block_mapping(&text), &order, None)?;
                continue;
            };
            let order = ["cpus", "memory"];
            if cpus_now.as_ref() != Some(&alloc.cpus) {
                // Quoted, as the plan writes it: `cpus: '8'`.
                map.set_with_field_order(
                    "cpus",
                    ScalarValue::single_quoted(alloc.cpus.to_string()),
                    order,
                );
            }
            if memory_now.as_ref() != Some(&alloc.memory) {
                let style = map
                    .get("memory")
                    .and_then(|v| v.as_scalar().map(|s| ScalarValue::from_scalar(s).style()))
                    .unwrap_or(ScalarStyle::Plain);
                map.set_with_field_order(
                    "memory",
                    scalar(&alloc.memory.text, style, map.is_flow_style()),
                    order,
                );
            }
        }
        Ok(())
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
        if let Some((_, words)) = &current
            && command_flags::runs_a_shell(words)
        {
            return Err(self.unsupported(
                name,
                "its `command:` runs a shell, and the flags are inside the shell's script",
                "set the flags by hand, or write `command:` as a list of the program's arguments",
            ));
        }
        let svc = self.service(role)?;
        match svc.get("command") {
            Some(node) if node.as_sequence().is_some() => {
                let seq = node.as_sequence().expect("checked").clone();
                let words = current.map(|(_, w)| w).unwrap_or_default();
                let slots = edit(&words, Form::List);
                if !command_flags::unchanged(words.len(), &slots) {
                    apply_to_sequence(&seq, words.len(), &slots);
                }
                Ok(())
            }
            Some(node) if node.as_scalar().is_some_and(|s| !s.is_null()) => {
                let old = node.as_scalar().expect("checked");
                let style = ScalarValue::from_scalar(old).style();
                if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
                    return Err(self.unsupported(
                        name,
                        "its `command:` is a block string (`|` or `>`)",
                        "write `command:` on one line or as a list",
                    ));
                }
                let text = old.as_string();
                let tokens = command_flags::split_string(&text).ok_or_else(|| {
                    self.unsupported(name, "its `command:` has an unclosed quote", "close it")
                })?;
                let words: Vec<String> = tokens.iter().map(|t| t.text.clone()).collect();
                let slots = edit(&words, Form::String);
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

/// `cpus: '8'` and `memory: 16G` at `level` steps of two spaces (the step is fixed
/// later, see [`reindent`]).
fn allocation_yaml(alloc: &Allocation, level: usize) -> String {
    let pad = "  ".repeat(level);
    format!(
        "{pad}cpus: '{}'\n{pad}memory: {}\n",
        alloc.cpus,
        scalar_text(&alloc.memory.text, ScalarStyle::Plain, false)
    )
}

fn resources_yaml(resources: &Resources, level: usize) -> String {
    let pad = "  ".repeat(level);
    format!(
        "{pad}limits:\n{}{pad}reservations:\n{}",
        allocation_yaml(&resources.limits, level + 1),
        allocation_yaml(&resources.reservations, level + 1)
    )
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
    out: &str,
) -> Result<(), ComposeError> {
    let fail = |detail: String| ComposeError::Render {
        path: file.path.clone(),
        detail,
    };
    let rendered = ComposeFile::parse(&file.path, out.to_string())
        .map_err(|e| fail(format!("the result does not parse: {e}")))?;
    let after = rendered
        .observe(roles)
        .map_err(|e| fail(format!("the result cannot be read back: {e}")))?;

    for (role, name) in roles.iter() {
        let want = match target.resources.get(&role) {
            Some(resources) => ObservedResources::from(resources),
            None => before.services[&role].clone(),
        };
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

    let old = without_tier_values(file, roles, target);
    let new = without_tier_values(&rendered, roles, target);
    if let Some(path) = first_difference(&old, &new, "") {
        return Err(fail(format!(
            "`{path}` would change too, and xzup only changes the tier's values"
        )));
    }
    Ok(())
}

/// The document as Compose reads it, less the values a render may change.
fn without_tier_values(file: &ComposeFile, roles: &RoleMap, target: &Target) -> Value {
    let mut doc = file.doc.clone();
    let services = doc
        .get_mut("services")
        .and_then(Value::as_mapping_mut)
        .expect("checked when parsed");
    for role in target.resources.keys() {
        let Some(Value::Mapping(svc)) = roles.service(*role).and_then(|n| services.get_mut(n))
        else {
            continue;
        };
        for section in ["limits", "reservations"] {
            for key in ["cpus", "memory"] {
                remove_path(svc, &["deploy", "resources", section, key]);
            }
        }
    }
    let commands = [
        (Role::Db, target.mysql.is_some(), false, false),
        (
            Role::Redis,
            target.redis.is_some(),
            true,
            target.redis.as_ref().is_some_and(|r| r.save.is_some()),
        ),
    ];
    for (role, edited, redis, with_save) in commands {
        let Some(Value::Mapping(svc)) = roles.service(role).and_then(|n| services.get_mut(n))
        else {
            continue;
        };
        if !edited {
            continue;
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
    Value::Mapping(doc)
}

/// Removes `map[keys…]`, then every mapping on the way that it left empty (or that was
/// empty, `key:` with no value, since a render may fill those in).
fn remove_path(map: &mut serde_yaml_ng::Mapping, keys: &[&str]) {
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
