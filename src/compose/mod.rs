//! The compose file: find it, read each role's resources and MySQL/Redis flags, and
//! render a tier into it losslessly (comments, order, quoting, anchors kept).
//!
//! Two parsers, each for what it does best:
//! - Reading goes through a strict YAML parser (`serde_yaml_ng`, a port of libyaml, the
//!   parser family both Compose v1 (PyYAML) and v2 (go-yaml) descend from), with `<<`
//!   merge keys applied. What xzup reads is what Compose would read, and a file Compose
//!   would reject is reported with its line and column. The lossless editor below accepts
//!   some invalid YAML silently (a mis-indented key, `a: b: c`), so it is not used to read.
//! - Writing goes through `yaml-edit`, a lossless (rowan) editor, so every byte that is not
//!   a tier value stays as it was. The result is parsed again strictly and checked before
//!   anyone sees it (see `render.rs`).
//!
//! Files: [`locate`] finds the file, `read` reads it, `env` substitutes `${VARIABLES}` as
//! Compose does, `mounts` reads a service's `volumes:`, `roles` tells which service plays
//! which role, `command_flags` reads and edits MySQL/Redis flags in a `command:`, `render`
//! writes a tier in, `warnings` says where Compose would not apply a value as written.

pub(crate) mod command_flags;
pub(crate) mod env;
mod image_edit;
mod locate;
mod lossless;
mod mounts;
pub(crate) mod read;
mod redact;
mod render;
#[cfg(feature = "fuzzing")]
pub(crate) use render::remove_path;
mod resources;
mod roles;
mod scalar;
mod warnings;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::roles::{Overrides, Role, RoleMap};
use crate::settings::{Observed, Target};

pub(crate) use env::Env;
pub use locate::locate;
pub use mounts::{Mount, MountKind, VolumeRef};
pub use roles::RolesError;

/// File names tried, in order, when neither `-f` nor xzup's state names the file.
pub const CANDIDATES: [&str; 6] = [
    "docker-compose-offline.yml",
    "docker-compose_all.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
    "compose.yaml",
    "compose.yml",
];

/// Errors reading or rewriting a compose file.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("directory `{}` does not exist", dir.display())]
    DirNotFound { dir: PathBuf },

    #[error("compose file `{}` does not exist", path.display())]
    FileNotFound { path: PathBuf },

    #[error("`{}` is not a file", path.display())]
    NotAFile { path: PathBuf },

    #[error("no compose file in `{}` (tried {})", dir.display(), tried.join(", "))]
    NoComposeFile { dir: PathBuf, tried: Vec<String> },

    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{}` is not valid YAML{}: {message}", path.display(), at(*line, *column))]
    InvalidYaml {
        path: PathBuf,
        /// 1-based; 0 when the parser gave no position.
        line: usize,
        column: usize,
        message: String,
    },

    #[error("`{}` is not a compose file: {reason}", path.display())]
    NotCompose { path: PathBuf, reason: String },

    #[error("`{}` has no service `{service}` for the {role} role", path.display())]
    MissingService {
        path: PathBuf,
        role: Role,
        service: String,
        available: Vec<String>,
    },

    /// A role that is not in this deployment, asked for anyway (a caller's slip: the
    /// commands choose among the roles present).
    #[error("`{}` has no service for the {role} role: it is not in this deployment", path.display())]
    RoleNotHere { path: PathBuf, role: Role },

    #[error(transparent)]
    Roles(#[from] RolesError),

    #[error("`{}`: service `{service}` has `{key}: {value}`, which xzup cannot read: {reason}", path.display())]
    BadValue {
        path: PathBuf,
        service: String,
        key: String,
        value: String,
        reason: String,
    },

    #[error("`{}`: cannot edit service `{service}`: {what}", path.display())]
    Unsupported {
        path: PathBuf,
        service: String,
        what: String,
        hint: String,
    },

    /// A `${VARIABLE}` Compose would refuse to substitute (`${DATA:?…}` unset, a broken
    /// reference).
    #[error("`{}`: `{place}` has `{value}`, which Compose cannot substitute: {reason}", path.display())]
    Variable {
        path: PathBuf,
        /// Where in the file: `services.db.volumes`, `volumes.dbdata`.
        place: String,
        value: String,
        reason: String,
    },

    /// The rendered file did not check out. A bug in xzup, never the operator's doing;
    /// the file is not returned, so nothing is written.
    #[error("rendering `{}` went wrong: {detail}", path.display())]
    Render { path: PathBuf, detail: String },
}

fn at(line: usize, column: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(" at line {line}, column {column}")
    }
}

impl ComposeError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ComposeError::DirNotFound { .. } => {
                "pass the deployment directory with `-C DIR`".to_string()
            }
            ComposeError::FileNotFound { .. } | ComposeError::NotAFile { .. } => {
                "check the path given with `-f FILE` (it is relative to the current directory)"
                    .to_string()
            }
            ComposeError::NoComposeFile { .. } => "run xzup in the deployment directory, or pass \
                 it with `-C DIR`, or name the compose file with `-f FILE`"
                .to_string(),
            // Not UTF-8 (UTF-16 from a Windows editor, a binary file): Compose reads UTF-8.
            ComposeError::Read { source, .. }
                if source.kind() == std::io::ErrorKind::InvalidData =>
            {
                "Compose files are UTF-8 text: save it as UTF-8 (e.g. `iconv -f UTF-16 -t UTF-8`), or point xzup at the compose file with `-f FILE`".to_string()
            }
            ComposeError::Read { .. } => {
                "check that the file exists and that you may read it".to_string()
            }
            ComposeError::InvalidYaml { .. } => {
                "fix the file there; `docker compose config` shows the same error".to_string()
            }
            ComposeError::NotCompose { .. } => {
                "point xzup at the deployment's compose file with `-f FILE`".to_string()
            }
            ComposeError::MissingService {
                role, available, ..
            } => format!(
                "the file's services are: {}; map the role with `--service {role}=NAME` or \
                 a `[services]` table in `xzup.toml` (`{role} = \"NAME\"`)",
                roles::services_list(available)
            ),
            ComposeError::RoleNotHere { role, .. } => {
                format!("leave {role} out of `--only`, or map it with `--service {role}=NAME`")
            }
            ComposeError::Roles(e) => e.hint(),
            ComposeError::BadValue { .. } => "fix the value in the file (a `${VARIABLE}` is \
                 substituted from the shell and `.env` first, as Compose does)"
                .to_string(),
            ComposeError::Unsupported { hint, .. } => hint.clone(),
            ComposeError::Variable { .. } => "set the variable in the environment or in the \
                 `.env` file of the deployment dir (Compose reads both); `docker compose config` \
                 shows the same error"
                .to_string(),
            ComposeError::Render { .. } => "this is a bug in xzup; nothing was written. Please \
                 report it with the compose file (remove passwords first)"
                .to_string(),
        })
    }
}

impl ComposeError {
    /// Whether the command line (or `xzup.toml`) was wrong rather than the file.
    pub fn is_usage(&self) -> bool {
        matches!(self, ComposeError::Roles(e) if e.is_usage())
    }
}

/// A parsed compose file, with its text kept byte for byte.
#[derive(Clone)]
pub struct ComposeFile {
    pub path: PathBuf,
    pub text: String,
    /// The document as Compose reads it: strictly parsed, `<<` merge keys applied.
    doc: serde_yaml_ng::Mapping,
    /// The variables `${…}` in the file are substituted with (the shell over `.env`).
    env: env::Env,
    /// The lossless (yaml-edit) tree of `text`, parsed once: for the secrets, then taken
    /// by a render, so `plan` parses the text once with each parser (issue 10).
    lossless: Lossless,
}

/// [`ComposeFile::lossless`]: the secrets, and the tree until a render takes it. A clone
/// starts empty (a cache, not part of the value).
#[derive(Default)]
struct Lossless {
    secrets: std::sync::OnceLock<Vec<redact::Secret>>,
    tree: std::sync::Mutex<Option<rowan::GreenNode>>,
}

impl Clone for Lossless {
    fn clone(&self) -> Lossless {
        Lossless::default()
    }
}

/// A rendered file (parsed: it was checked), and where secrets stand in it and in the
/// source.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub file: ComposeFile,
    /// Byte ranges of the secret values in `text`.
    pub secrets: Vec<std::ops::Range<usize>>,
    /// Byte ranges of the secret values in the source file's text.
    pub source_secrets: Vec<std::ops::Range<usize>>,
}

impl Rendered {
    /// The rendered file with its secrets masked, for stdout.
    pub fn redacted(&self) -> String {
        crate::secrets::mask_spans(&self.file.text, &self.secrets)
    }

    /// The source file with its secrets masked.
    pub fn source_redacted(&self, source: &str) -> String {
        crate::secrets::mask_spans(source, &self.source_secrets)
    }
}

/// A place where Compose would not apply a value as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub service: String,
    pub message: String,
}

/// Path and services only: the text holds passwords, and a `{:?}` must not show them.
impl std::fmt::Debug for ComposeFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComposeFile")
            .field("path", &self.path)
            .field("bytes", &self.text.len())
            .field("services", &self.services())
            .finish_non_exhaustive()
    }
}

impl ComposeFile {
    /// Reads and parses `path`. Invalid YAML is reported with line and column.
    pub fn load(path: &Path) -> Result<ComposeFile, ComposeError> {
        let text = std::fs::read_to_string(path).map_err(|source| ComposeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        ComposeFile::parse(path, text)
    }

    /// Parses `text` (read from `path`). Variables are taken from the shell and the
    /// `.env` file beside `path`, as Compose takes them.
    pub fn parse(path: &Path, text: String) -> Result<ComposeFile, ComposeError> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let env = env::Env::load(&dir).map_err(|source| ComposeError::Read {
            path: dir.join(env::DOT_ENV),
            source,
        })?;
        ComposeFile::parse_with_env(path, text, env)
    }

    /// Parses `text` with the variables of `env`.
    pub(crate) fn parse_with_env(
        path: &Path,
        text: String,
        env: env::Env,
    ) -> Result<ComposeFile, ComposeError> {
        let doc = read::parse_document(path, &text)?;
        Ok(ComposeFile {
            path: path.to_path_buf(),
            text,
            doc,
            env,
            lossless: Lossless::default(),
        })
    }

    /// The directory relative paths in the file are resolved against.
    pub fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Service names in file order.
    pub fn services(&self) -> Vec<String> {
        read::service_names(&self.doc)
    }

    /// Which service plays which role (see `roles.rs` for the rules), the operator's
    /// `overrides` first.
    pub fn roles(&self, overrides: &Overrides) -> Result<RoleMap, RolesError> {
        roles::resolve(self, overrides)
    }

    /// The resources of each role in `roles` and the MySQL/Redis flags (of the db and
    /// redis roles, when they are here). Fails when a mapped service is missing, saying
    /// how to map it.
    pub fn observe(&self, roles: &RoleMap) -> Result<Observed, ComposeError> {
        read::observe(self, roles)
    }

    /// The file with `target` written in; every other byte as it was. The result is
    /// re-parsed and checked before it is returned.
    pub fn render(&self, roles: &RoleMap, target: &Target) -> Result<Rendered, ComposeError> {
        render::render(self, roles, target)
    }

    /// Where Compose would not apply a value as written (see the module doc).
    pub fn warnings(&self, roles: &RoleMap) -> Vec<Warning> {
        warnings::warnings(self, roles)
    }

    /// Every mount of `service` (its `volumes:`), variables substituted from `env`, host
    /// paths resolved against `project_dir` (see `mounts.rs`).
    pub(crate) fn mounts(
        &self,
        service: &str,
        env: &Env,
        project_dir: &Path,
    ) -> Result<Vec<Mount>, ComposeError> {
        mounts::mounts(self, service, env, project_dir)
    }

    /// The words of `service`'s `command:` (list or string form), `None` when it has none.
    pub fn command_words(&self, service: &str) -> Result<Option<Vec<String>>, ComposeError> {
        let Some(svc) = read::service(&self.doc, service) else {
            return Ok(None);
        };
        Ok(read::command_words(self, service, svc)?.map(|(_, words)| words))
    }

    /// `image:` of each service.
    pub fn images(&self) -> BTreeMap<String, String> {
        read::images(&self.doc)
    }

    /// `container_name:` of each service that pins one.
    pub fn container_names(&self) -> BTreeMap<String, String> {
        read::container_names(&self.doc)
    }

    /// `container_name:` of `service`, if it pins one.
    pub fn container_name(&self, service: &str) -> Option<String> {
        self.container_names().remove(service)
    }

    /// `environment:` of `service` (list or mapping form).
    pub fn environment(&self, service: &str) -> BTreeMap<String, String> {
        read::environment(&self.doc, service)
    }

    /// Where the secrets stand in the text, found by the file's structure (see
    /// [`redact`]): byte ranges and the values as they read.
    fn secret_places(&self) -> Vec<redact::Secret> {
        self.lossless
            .secrets
            .get_or_init(|| {
                let Ok(tree) = lossless::lossless_tree(&self.text) else {
                    return Vec::new();
                };
                let found = redact::find(&tree);
                *self.lossless.tree.lock().unwrap_or_else(|e| e.into_inner()) = Some(tree);
                found
            })
            .clone()
    }

    /// The lossless tree of `text`: the one [`Self::secret_places`] parsed when it is
    /// still here (it is handed over once), else parsed now.
    fn take_lossless_tree(&self) -> Result<rowan::GreenNode, String> {
        let kept = self
            .lossless
            .tree
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match kept {
            Some(tree) => Ok(tree),
            None => lossless::lossless_tree(&self.text),
        }
    }

    /// The text with every secret masked (for showing a file that was not rendered).
    pub fn redacted(&self) -> String {
        let spans: Vec<_> = self.secret_places().into_iter().map(|s| s.span).collect();
        crate::secrets::mask_spans(&self.text, &spans)
    }

    /// Values that must never be printed (for free text: docker messages, journals):
    /// each secret as the file writes it, and as Compose substitutes it (`${PW:-x}` is
    /// `x`, or the value `.env` gives `PW`), with the defaults it names.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        for secret in self.secret_places() {
            let value = secret.value;
            if let Ok(refs) = env::references(&value) {
                out.extend(refs.into_iter().filter_map(|r| r.default));
            }
            if let Ok(resolved) = env::interpolate(&value, &self.env) {
                out.push(resolved);
            }
            // In list form Compose keeps quotes as part of the value
            // (`- PASSWORD="x"` is `"x"`); the inner text is what a program sees.
            let inner = value.trim_matches(|c| c == '"' || c == '\'');
            if inner != value {
                out.push(inner.to_string());
            }
            out.push(value);
        }
        out.retain(|s| !s.is_empty());
        out.sort();
        out.dedup();
        out
    }
}

/// The roles mapped to the one-letter services of the compose tests (s, w, d, r).
#[cfg(test)]
pub(crate) fn short_test_roles() -> RoleMap {
    let mut roles = RoleMap::empty();
    roles.set(Role::Server, "s");
    roles.set(Role::Web, "w");
    roles.set(Role::Db, "d");
    roles.set(Role::Redis, "r");
    roles
}
