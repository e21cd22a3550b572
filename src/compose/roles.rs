//! Which service of a compose file plays which role, and why.
//!
//! Service keys are renamed in real deployments (`xiaozhi-server`, `xiaozhi-db`, `mysql`,
//! `manager-api-db`), `container_name` may differ from the key or be missing, and a role may
//! not be in the file at all (the server alone; MySQL and Redis on another host). Each role
//! is looked for with these rules, in this order; the first that finds it wins:
//!
//! 1. the operator's mapping, `--service ROLE=NAME` over `[services]` in `xzup.toml`
//!    (`ROLE=none`: no service plays it); a name that is not a service of the file is a
//!    usage error;
//! 2. the upstream service name (`xiaozhi-esp32-server`, `-web`, `-db`, `-redis`);
//! 3. the image, `${VAR}` substituted the way Compose does ([`super::env`]): a repository
//!    named `mysql`, `mariadb` or `percona` is the db, `redis` or `valkey` the redis; a
//!    xiaozhi repository (any registry or mirror, or a local build such as
//!    `xiaozhi-esp32-server:server_custom`) is the server or the web by its `server_*` /
//!    `web_*` tag, else by its name;
//! 4. for a service built locally (`build:`, and no image that names a role): the container
//!    ports it publishes (8000/8003 server, 8002 web, 3306 db, 6379 redis), else a
//!    `container_name` that is an upstream service name.
//!
//! A service plays at most one role: one a rule gave a role is not a candidate for
//! another. Two candidates for one role at the same rule (a test database beside the real
//! one) are refused, naming both and the `--service` that settles it. A role no rule finds
//! is not in this deployment; a file in which no role is found is refused.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_yaml_ng::{Mapping, Value};

use super::ComposeFile;
use super::env::{self, Env};
use super::read::{scalar_text, service};
use crate::roles::{Assignment, Origin, Overrides, Reason, Role, RoleMap};

/// Why the roles of a compose file could not be told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RolesError {
    /// `--service` or `xzup.toml` names a service the file does not have (a usage error).
    #[error("{} maps the {role} role to `{service}`, which is not a service of `{}`", origin.name(), file.display())]
    UnknownService {
        file: PathBuf,
        role: Role,
        service: String,
        origin: Origin,
        available: Vec<String>,
    },
    /// More than one service could play a role.
    #[error("`{}` has {} services that could play the {role} role: {}", file.display(), candidates.len(), list(candidates))]
    Ambiguous {
        file: PathBuf,
        role: Role,
        candidates: Vec<Assignment>,
    },
    /// No service plays any role.
    #[error("no service of `{}` plays a role xzup sizes (server, db, redis, web)", file.display())]
    NoRoles {
        file: PathBuf,
        services: Vec<String>,
    },
}

fn list(candidates: &[Assignment]) -> String {
    candidates
        .iter()
        .map(|a| format!("`{}` ({})", a.service, a.reason))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `` `a`, `b` `` (or `none`), as hints list a file's services.
pub(super) fn services_list(services: &[String]) -> String {
    if services.is_empty() {
        return "none".to_string();
    }
    services
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl RolesError {
    pub fn hint(&self) -> String {
        match self {
            RolesError::UnknownService {
                role, available, ..
            } => format!(
                "the file's services are: {}; name one of them (`--service {role}=NAME`, or \
                 `{role} = \"NAME\"` under `[services]` in xzup.toml), or `{role}=none` if no \
                 service plays it",
                services_list(available)
            ),
            RolesError::Ambiguous {
                role, candidates, ..
            } => format!(
                "name the one xzup sizes: `--service {role}={}` (or `{role} = \"{}\"` under \
                 `[services]` in xzup.toml); `--service {role}=none` if none of them is the \
                 deployment's {role}",
                candidates[0].service, candidates[0].service
            ),
            RolesError::NoRoles { services, .. } => format!(
                "the file's services are: {}; map them with `--service ROLE=NAME` (roles: \
                 server, db, redis, web), or point xzup at the deployment's compose file with \
                 `-f FILE`",
                services_list(services)
            ),
        }
    }

    /// Whether the command line (or `xzup.toml`) was wrong rather than the file.
    pub fn is_usage(&self) -> bool {
        matches!(self, RolesError::UnknownService { .. })
    }
}

/// The ports that tell a `build:` service's role (container side), after the upstream files.
const PORTS: [(u16, Role); 5] = [
    (8000, Role::Server),
    (8003, Role::Server),
    (8002, Role::Web),
    (3306, Role::Db),
    (6379, Role::Redis),
];

/// Resolves every role of `file` by the rules of the module doc.
pub(crate) fn resolve(file: &ComposeFile, overrides: &Overrides) -> Result<RoleMap, RolesError> {
    let names = file.services();
    let shown = file.path.clone();
    let mut map = RoleMap::empty();
    let mut settled: BTreeSet<Role> = BTreeSet::new();

    // 1. The operator's mapping.
    for (role, over) in overrides.iter() {
        settled.insert(role);
        let Some(service) = &over.service else {
            continue;
        };
        if !names.contains(service) {
            return Err(RolesError::UnknownService {
                file: shown,
                role,
                service: service.clone(),
                origin: over.origin,
                available: names,
            });
        }
        map.assign(role, service.clone(), over.origin.reason());
    }
    let free = |map: &RoleMap, name: &str| map.role_of(name).is_none();

    // 2. The upstream names.
    for role in Role::ALL {
        let name = role.default_service();
        if !settled.contains(&role) && names.iter().any(|n| n == name) && free(&map, name) {
            map.assign(role, name, Reason::UpstreamName);
            settled.insert(role);
        }
    }

    // 3 and 4. What each remaining service's image, or for a local build its ports and
    // container name, says; then each remaining role takes its only candidate.
    let env = Lazy::new(file);
    let mut by_image: Vec<(Role, Assignment)> = Vec::new();
    let mut by_build: Vec<(Role, Assignment)> = Vec::new();
    for name in names.iter().filter(|n| free(&map, n)) {
        let Some(svc) = service(&file.doc, name) else {
            continue;
        };
        let image = svc
            .get("image")
            .and_then(scalar_text)
            .map(|text| env.resolve(&text));
        if let Some((role, image)) = image.and_then(|i| image_role(&i).map(|r| (r, i))) {
            by_image.push((role, assignment(name, Reason::Image { image })));
        } else if svc.contains_key("build")
            && let Some((role, reason)) = build_role(svc, &env)
        {
            by_build.push((role, assignment(name, reason)));
        }
    }
    for candidates in [by_image, by_build] {
        for role in Role::ALL {
            if settled.contains(&role) {
                continue;
            }
            let found: Vec<Assignment> = candidates
                .iter()
                .filter(|(r, _)| *r == role)
                .map(|(_, a)| a.clone())
                .collect();
            match found.as_slice() {
                [] => {}
                [one] => {
                    map.assign(role, one.service.clone(), one.reason.clone());
                    settled.insert(role);
                }
                _ => {
                    return Err(RolesError::Ambiguous {
                        file: shown,
                        role,
                        candidates: found,
                    });
                }
            }
        }
    }
    if map.is_empty() {
        return Err(RolesError::NoRoles {
            file: shown,
            services: names,
        });
    }
    Ok(map)
}

fn assignment(service: &str, reason: Reason) -> Assignment {
    Assignment {
        service: service.to_string(),
        reason,
    }
}

/// The role an image names, if any (see the module doc).
pub(crate) fn image_role(image: &str) -> Option<Role> {
    let image = image.trim().to_ascii_lowercase();
    let image = image.split('@').next().unwrap_or_default();
    // The tag follows the last `:` after the last `/` (`localhost:5000/mysql` has none).
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match image[slash..].rfind(':') {
        Some(i) => (&image[..slash + i], &image[slash + i + 1..]),
        None => (image, ""),
    };
    let name = repository.rsplit('/').next().unwrap_or_default();
    match name {
        "mysql" | "mysql-server" | "mariadb" | "percona" | "percona-server" => {
            return Some(Role::Db);
        }
        "redis" | "redis-stack-server" | "valkey" => return Some(Role::Redis),
        _ => {}
    }
    if !repository.contains("xiaozhi") {
        return None;
    }
    // The upstream images are one repository with a tag per part: `server_latest`,
    // `web_0.8.6`; other builds name the part in the repository.
    let by_tag = if tag.starts_with("server_") {
        Some(Role::Server)
    } else if tag.starts_with("web_") {
        Some(Role::Web)
    } else {
        None
    };
    by_tag.or(if name.ends_with("-web") || name.contains("manager") {
        Some(Role::Web)
    } else if name.ends_with("server") {
        Some(Role::Server)
    } else {
        None
    })
}

/// The role of a `build:` service by the container ports it publishes (one role's ports
/// only), else by its `container_name` when that is an upstream service name, else by the
/// Dockerfile it builds from when that is one of upstream's (`Dockerfile-server`,
/// `Dockerfile-web`: forks keep those names).
fn build_role(svc: &Mapping, env: &Lazy<'_>) -> Option<(Role, Reason)> {
    let ports = container_ports(svc, env);
    let mut roles: Vec<Role> = ports
        .iter()
        .filter_map(|p| PORTS.iter().find(|(port, _)| port == p).map(|(_, r)| *r))
        .collect();
    roles.dedup();
    roles.sort();
    roles.dedup();
    if let [role] = roles.as_slice() {
        let mut matched: Vec<u16> = ports
            .into_iter()
            .filter(|p| PORTS.iter().any(|(port, r)| port == p && r == role))
            .collect();
        matched.sort_unstable();
        matched.dedup();
        return Some((*role, Reason::Ports { ports: matched }));
    }
    if let Some(name) = svc.get("container_name").and_then(scalar_text) {
        let name = env.resolve(&name);
        if let Some(role) = Role::ALL.into_iter().find(|r| r.default_service() == name) {
            return Some((role, Reason::ContainerName { name }));
        }
    }
    let dockerfile = svc
        .get("build")
        .and_then(Value::as_mapping)
        .and_then(|b| b.get("dockerfile"))
        .and_then(scalar_text)?;
    let name = env.resolve(&dockerfile);
    let role = match name.rsplit('/').next().unwrap_or(&name) {
        "Dockerfile-server" => Role::Server,
        "Dockerfile-web" => Role::Web,
        _ => return None,
    };
    Some((role, Reason::Dockerfile { name }))
}

/// The container side of each `ports:` entry: `"8000"`, `"8000:8000"`,
/// `"127.0.0.1:18000:8000/tcp"`, ranges `"8000-8003:8000-8003"`, or the long form's
/// `target:`.
fn container_ports(svc: &Mapping, env: &Lazy<'_>) -> Vec<u16> {
    let Some(Value::Sequence(entries)) = svc.get("ports") else {
        return Vec::new();
    };
    let mut ports = Vec::new();
    for entry in entries {
        let text = match entry {
            Value::Mapping(long) => long.get("target").and_then(scalar_text),
            other => scalar_text(other),
        };
        let Some(text) = text.map(|t| env.resolve(&t)) else {
            continue;
        };
        let spec = text.split('/').next().unwrap_or_default();
        let container = spec.rsplit(':').next().unwrap_or_default().trim();
        let (low, high) = match container.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u16>(), b.trim().parse::<u16>()),
            None => (container.parse::<u16>(), container.parse::<u16>()),
        };
        if let (Ok(low), Ok(high)) = (low, high) {
            // A range wider than the ports of a whole stack names no one role.
            if high >= low && high - low < 16 {
                ports.extend(low..=high);
            }
        }
    }
    ports
}

/// The file's variables, read (`.env` beside the file, the environment) only when a value
/// holds one.
struct Lazy<'f> {
    file: &'f ComposeFile,
    env: std::cell::OnceCell<Env>,
}

impl<'f> Lazy<'f> {
    fn new(file: &'f ComposeFile) -> Lazy<'f> {
        Lazy {
            file,
            env: std::cell::OnceCell::new(),
        }
    }

    /// `text` with its variables substituted; as written when it has none, or when
    /// Compose would refuse it (then Compose says so, and no rule matches a `${…}`).
    fn resolve(&self, text: &str) -> String {
        if !env::has_variables(text) {
            return text.to_string();
        }
        let env = self
            .env
            .get_or_init(|| Env::load(&self.file.dir()).unwrap_or_default());
        env::interpolate(text, env).unwrap_or_else(|_| text.to_string())
    }
}

#[cfg(test)]
#[path = "roles_tests.rs"]
mod tests;
