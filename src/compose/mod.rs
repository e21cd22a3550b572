//! The compose file: find it, read each role's resources and MySQL/Redis flags, and
//! render a tier into it losslessly (comments, order, quoting, anchors kept).
//!
//! STUB: the signatures below are the contract; bodies are being written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::roles::{Role, RoleMap};
use crate::tiers::{MysqlSettings, RedisSettings, Resources};
use crate::units::{Cpus, Memory};

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
    #[error("not implemented yet")]
    Todo,
}

impl ComposeError {
    pub fn hint(&self) -> Option<String> {
        None
    }
}

/// Finds the compose file: `explicit` (-f, relative to `dir`), else `last_activated`
/// (from xzup's state), else the first of [`CANDIDATES`] in `dir`.
pub fn locate(
    dir: &Path,
    explicit: Option<&Path>,
    last_activated: Option<&Path>,
) -> Result<PathBuf, ComposeError> {
    let _ = (dir, explicit, last_activated);
    todo!()
}

/// A parsed compose file, with its text kept byte for byte.
#[derive(Debug, Clone)]
pub struct ComposeFile {
    pub path: PathBuf,
    pub text: String,
}

/// What a file sets for one role, as written (each value may be absent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObservedResources {
    pub limit_cpus: Option<Cpus>,
    pub limit_memory: Option<Memory>,
    pub reserve_cpus: Option<Cpus>,
    pub reserve_memory: Option<Memory>,
}

/// The MySQL flags found on the db service's `command:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObservedMysql {
    pub max_connections: Option<u32>,
    pub innodb_buffer_pool_size: Option<Memory>,
    pub innodb_log_file_size: Option<Memory>,
}

/// The Redis flags found on the redis service's `command:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObservedRedis {
    pub maxmemory: Option<Memory>,
    pub maxmemory_policy: Option<String>,
    pub save: Vec<String>,
}

/// Everything xzup reads from a file about the four roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observed {
    pub services: BTreeMap<Role, ObservedResources>,
    pub mysql: ObservedMysql,
    pub redis: ObservedRedis,
}

/// What to write: resources per role (only the roles being changed), and the MySQL/Redis
/// flags when db/redis are among them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub resources: BTreeMap<Role, Resources>,
    pub mysql: Option<MysqlSettings>,
    pub redis: Option<RedisSettings>,
}

/// A place where Compose would not apply a value as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub service: String,
    pub message: String,
}

/// A bind mount of a service, host side as written and resolved against the file's dir.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BindMount {
    pub service: String,
    pub source: PathBuf,
    pub target: String,
    pub read_only: bool,
}

impl ComposeFile {
    /// Reads and parses `path`. Invalid YAML is reported with line and column.
    pub fn load(path: &Path) -> Result<ComposeFile, ComposeError> {
        let _ = path;
        todo!()
    }

    /// Parses `text` (read from `path`).
    pub fn parse(path: &Path, text: String) -> Result<ComposeFile, ComposeError> {
        let _ = (path, text);
        todo!()
    }

    /// Service names in file order.
    pub fn services(&self) -> Vec<String> {
        todo!()
    }

    /// Each role's resources and the MySQL/Redis flags. Fails when a role's service is
    /// missing, saying how to map it.
    pub fn observe(&self, roles: &RoleMap) -> Result<Observed, ComposeError> {
        let _ = roles;
        todo!()
    }

    /// The file with `target` written in; every other byte as it was. The result is
    /// re-parsed and checked before it is returned.
    pub fn render(&self, roles: &RoleMap, target: &Target) -> Result<String, ComposeError> {
        let _ = (roles, target);
        todo!()
    }

    /// Where Compose would not apply a value as written (see the module doc).
    pub fn warnings(&self, roles: &RoleMap) -> Vec<Warning> {
        let _ = roles;
        todo!()
    }

    /// Bind mounts of `service`, sources resolved against the file's directory.
    pub fn bind_mounts(&self, service: &str) -> Vec<BindMount> {
        let _ = service;
        todo!()
    }

    /// `image:` of each service.
    pub fn images(&self) -> BTreeMap<String, String> {
        todo!()
    }

    /// `environment:` of `service` (list or mapping form).
    pub fn environment(&self, service: &str) -> BTreeMap<String, String> {
        let _ = service;
        todo!()
    }

    /// Values that must never be printed: every `environment:` value whose name looks
    /// like a secret (PASSWORD, SECRET, TOKEN, KEY), from every service.
    pub fn secrets(&self) -> Vec<String> {
        todo!()
    }
}
