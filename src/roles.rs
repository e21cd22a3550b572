//! The four roles of a xiaozhi deployment and the compose services that play them.
//!
//! Tiers speak of roles (server, web, db, redis); compose files speak of service names.
//! Which service plays which role is found in the compose file (`compose/roles.rs` holds
//! the rules); this module holds the result, a [`RoleMap`]: each role that is in the
//! deployment with its service and the [`Reason`] it was chosen, and no entry for a role
//! that is not (a server-only deployment, MySQL on another host). It also holds what the
//! operator says, [`Overrides`] (`--service ROLE=NAME`, `[services]` in `xzup.toml`),
//! which come first. A run records its map in its journal, so that resume and rollback use
//! the mapping the run started with.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A part of the stack that a tier sizes. The order is the plan's upgrade priority
/// (FAQ Q3: server, then db, then redis, then web).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Server,
    Db,
    Redis,
    Web,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Server, Role::Db, Role::Redis, Role::Web];

    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Db => "db",
            Role::Redis => "redis",
            Role::Web => "web",
        }
    }

    /// The service name the upstream compose file gives this role.
    pub fn default_service(self) -> &'static str {
        match self {
            Role::Server => "xiaozhi-esp32-server",
            Role::Db => "xiaozhi-esp32-server-db",
            Role::Redis => "xiaozhi-esp32-server-redis",
            Role::Web => "xiaozhi-esp32-server-web",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown role name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`: the roles are server, db, redis, web")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        match s.trim().to_ascii_lowercase().as_str() {
            "server" => Ok(Role::Server),
            "db" | "mysql" => Ok(Role::Db),
            "redis" => Ok(Role::Redis),
            "web" => Ok(Role::Web),
            _ => Err(UnknownRole(s.to_string())),
        }
    }
}

/// How a role's service was found. The rules are tried in this order (see
/// `compose/roles.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Reason {
    /// `--service ROLE=SERVICE`.
    CommandLine,
    /// A `[services]` table in `xzup.toml`.
    Config,
    /// The service has the name the upstream compose files give the role.
    UpstreamName,
    /// The service's image (as Compose resolves it, `${VAR}` substituted).
    Image { image: String },
    /// The container ports a `build:` service publishes.
    Ports { ports: Vec<u16> },
    /// The `container_name` of a `build:` service (an upstream service name).
    ContainerName { name: String },
    /// The Dockerfile a `build:` service builds from (upstream's `Dockerfile-server`,
    /// `Dockerfile-web`).
    Dockerfile { name: String },
}

impl Reason {
    /// The rule's name in JSON output: `command-line`, `config`, `upstream-name`, `image`,
    /// `ports`, `container-name`, `dockerfile`.
    pub fn kind(&self) -> &'static str {
        match self {
            Reason::CommandLine => "command-line",
            Reason::Config => "config",
            Reason::UpstreamName => "upstream-name",
            Reason::Image { .. } => "image",
            Reason::Ports { .. } => "ports",
            Reason::ContainerName { .. } => "container-name",
            Reason::Dockerfile { .. } => "dockerfile",
        }
    }
}

impl fmt::Display for Reason {
    /// `by image `mysql:8.0``, `by its upstream name`, …
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::CommandLine => f.write_str("by `--service`"),
            Reason::Config => f.write_str("by `[services]` in xzup.toml"),
            Reason::UpstreamName => f.write_str("by its upstream name"),
            Reason::Image { image } => write!(f, "by image `{image}`"),
            Reason::Ports { ports } => {
                let list: Vec<String> = ports.iter().map(u16::to_string).collect();
                let noun = if ports.len() == 1 { "port" } else { "ports" };
                write!(
                    f,
                    "by published {noun} {} of a `build:` service",
                    list.join(", ")
                )
            }
            Reason::ContainerName { name } => {
                write!(f, "by container name `{name}` of a `build:` service")
            }
            Reason::Dockerfile { name } => {
                write!(f, "by the Dockerfile `{name}` it builds from")
            }
        }
    }
}

/// The service that plays a role, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub service: String,
    pub reason: Reason,
}

/// Which compose service plays each role; a role with no entry is not in this
/// deployment. Serialised (in journals) as `{"db": {"service": …, "reason": {"by": …}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoleMap {
    roles: BTreeMap<Role, Assignment>,
}

/// The upstream names for all four roles: what the compose tests (and the tests of code
/// that takes a map) start from.
#[cfg(test)]
impl Default for RoleMap {
    fn default() -> Self {
        let mut map = RoleMap::empty();
        for role in Role::ALL {
            map.assign(role, role.default_service(), Reason::UpstreamName);
        }
        map
    }
}

impl RoleMap {
    /// No role in the deployment (yet).
    pub fn empty() -> RoleMap {
        RoleMap {
            roles: BTreeMap::new(),
        }
    }

    /// Maps `role` to `service`, found by `reason`.
    pub fn assign(&mut self, role: Role, service: impl Into<String>, reason: Reason) {
        self.roles.insert(
            role,
            Assignment {
                service: service.into(),
                reason,
            },
        );
    }

    /// Maps `role` to `service` as `--service` would (the tests' short maps).
    #[cfg(test)]
    pub fn set(&mut self, role: Role, service: impl Into<String>) {
        self.assign(role, service, Reason::CommandLine);
    }

    /// The service playing `role`; `None` when the role is not in this deployment.
    pub fn service(&self, role: Role) -> Option<&str> {
        self.roles.get(&role).map(|a| a.service.as_str())
    }

    /// The service playing `role` and why it was chosen.
    pub fn assignment(&self, role: Role) -> Option<&Assignment> {
        self.roles.get(&role)
    }

    /// Whether a service plays `role` here.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains_key(&role)
    }

    pub fn is_empty(&self) -> bool {
        self.roles.is_empty()
    }

    /// The roles in this deployment, in priority order.
    pub fn present(&self) -> Vec<Role> {
        self.roles.keys().copied().collect()
    }

    /// The roles not in this deployment, in priority order.
    pub fn absent(&self) -> Vec<Role> {
        Role::ALL.into_iter().filter(|r| !self.has(*r)).collect()
    }

    /// The role a service plays, if any.
    pub fn role_of(&self, service: &str) -> Option<Role> {
        self.roles
            .iter()
            .find(|(_, a)| a.service == service)
            .map(|(r, _)| *r)
    }

    /// Each role in this deployment with its service, in priority order. Absent roles
    /// are left out.
    pub fn iter(&self) -> impl Iterator<Item = (Role, &str)> {
        self.roles.iter().map(|(r, a)| (*r, a.service.as_str()))
    }

    /// The roles a command works on: those of `only` (`--only`), which must all be in this
    /// deployment, or, when `only` is empty, every role that is.
    pub fn choose(&self, only: &[Role]) -> Result<Vec<Role>, NotInDeployment> {
        if only.is_empty() {
            return Ok(self.present());
        }
        let missing: Vec<Role> = only.iter().copied().filter(|r| !self.has(*r)).collect();
        if missing.is_empty() {
            Ok(only.to_vec())
        } else {
            Err(NotInDeployment {
                missing,
                present: self.present(),
            })
        }
    }

    /// One row per role, in priority order, for reports (plan, status, history).
    pub fn rows(&self) -> Vec<RoleRow> {
        Role::ALL
            .into_iter()
            .map(|role| match self.assignment(role) {
                Some(a) => RoleRow {
                    role,
                    service: Some(a.service.clone()),
                    by: Some(a.reason.kind()),
                    reason: a.reason.to_string(),
                },
                None => RoleRow {
                    role,
                    service: None,
                    by: None,
                    reason: NOT_HERE.to_string(),
                },
            })
            .collect()
    }

    /// `server = `xiaozhi-esp32-server`; db, redis, web not in this deployment`.
    pub fn summary(&self) -> String {
        summary(&self.rows())
    }
}

/// [`RoleMap::summary`] of a map's rows.
pub fn summary(rows: &[RoleRow]) -> String {
    let mut parts: Vec<String> = rows
        .iter()
        .filter_map(|r| Some(format!("{} = `{}`", r.role, r.service.as_ref()?)))
        .collect();
    let absent: Vec<&str> = rows
        .iter()
        .filter(|r| r.service.is_none())
        .map(|r| r.role.name())
        .collect();
    if !absent.is_empty() {
        parts.push(format!("{} {NOT_HERE}", absent.join(", ")));
    }
    parts.join("; ")
}

/// What reports say of a role no service plays.
pub const NOT_HERE: &str = "not in this deployment";

/// One role of a [`RoleMap`], for reports: `db = `xiaozhi-db`, by image `mysql:8.0``.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleRow {
    pub role: Role,
    /// `None`: not in this deployment.
    pub service: Option<String>,
    /// The rule that found it ([`Reason::kind`]).
    pub by: Option<&'static str>,
    /// Why, in words, or "not in this deployment".
    pub reason: String,
}

impl fmt::Display for RoleRow {
    /// `db     = `xiaozhi-db`, by image `mysql:8.0`` or `redis  - not in this deployment`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.service {
            Some(service) => write!(f, "{:<6} = `{service}`, {}", self.role.name(), self.reason),
            None => write!(f, "{:<6} - {}", self.role.name(), self.reason),
        }
    }
}

/// `--only` named roles that are not in this deployment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe_missing(missing))]
pub struct NotInDeployment {
    pub missing: Vec<Role>,
    pub present: Vec<Role>,
}

fn describe_missing(missing: &[Role]) -> String {
    let names: Vec<&str> = missing.iter().map(|r| r.name()).collect();
    let verb = if missing.len() == 1 { "is" } else { "are" };
    format!("{} {verb} {NOT_HERE}", names.join(", "))
}

impl NotInDeployment {
    pub fn hint(&self) -> String {
        let present: Vec<&str> = self.present.iter().map(|r| r.name()).collect();
        let role = self.missing[0];
        format!(
            "choose among the roles it has: {}; if a service plays {role}, map it with \
             `--service {role}=NAME`",
            present.join(", ")
        )
    }
}

/// Where an operator's mapping of a role comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `--service ROLE=SERVICE`
    CommandLine,
    /// `[services]` in `xzup.toml`
    Config,
}

impl Origin {
    /// `--service` or `xzup.toml`, as errors name it.
    pub fn name(self) -> &'static str {
        match self {
            Origin::CommandLine => "--service",
            Origin::Config => "xzup.toml",
        }
    }

    pub fn reason(self) -> Reason {
        match self {
            Origin::CommandLine => Reason::CommandLine,
            Origin::Config => Reason::Config,
        }
    }
}

/// The service name that says "no service plays this role here": `--service db=none`.
pub const NONE: &str = "none";

/// An operator's mapping of one role: a service, or none (`--service db=none`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub service: Option<String>,
    pub origin: Origin,
}

/// The roles the operator mapped, `--service` over `xzup.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    roles: BTreeMap<Role, Override>,
}

/// Two roles mapped to one service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} are both mapped to service `{service}`: a service plays one role", self.roles())]
pub struct SharedService {
    pub service: String,
    pub first: (Role, Origin),
    pub second: (Role, Origin),
}

impl SharedService {
    /// `the db and redis roles`, or with their origins when they differ: `the db role
    /// (xzup.toml) and the redis role (--service)`.
    fn roles(&self) -> String {
        let ((a, from_a), (b, from_b)) = (self.first, self.second);
        if from_a == from_b {
            format!("the {a} and {b} roles")
        } else {
            format!(
                "the {a} role ({}) and the {b} role ({})",
                from_a.name(),
                from_b.name()
            )
        }
    }

    /// Where to fix it: the command line when one of the two comes from it.
    pub fn origin(&self) -> Origin {
        if self.first.1 == Origin::CommandLine || self.second.1 == Origin::CommandLine {
            Origin::CommandLine
        } else {
            Origin::Config
        }
    }
}

impl Overrides {
    /// Maps `role` as `over` says, replacing an earlier mapping of the role (`--service`
    /// replaces `xzup.toml`).
    pub fn set(&mut self, role: Role, over: Override) {
        self.roles.insert(role, over);
    }

    /// Refuses two roles mapped to one service (checked once every mapping is in, so the
    /// order of `--service` options does not matter).
    pub fn check(&self) -> Result<(), SharedService> {
        for (first, a) in &self.roles {
            for (second, b) in self.roles.range(*first..).skip(1) {
                if let (Some(service), true) = (&a.service, a.service == b.service) {
                    return Err(SharedService {
                        service: service.clone(),
                        first: (*first, a.origin),
                        second: (*second, b.origin),
                    });
                }
            }
        }
        Ok(())
    }

    pub fn get(&self, role: Role) -> Option<&Override> {
        self.roles.get(&role)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Role, &Override)> {
        self.roles.iter().map(|(r, o)| (*r, o))
    }
}

/// Parses `--only server,db` into roles in the plan's priority order, without repeats.
pub fn parse_only(list: &str) -> Result<Vec<Role>, UnknownRole> {
    let mut roles = Vec::new();
    for part in list.split(',').filter(|p| !p.trim().is_empty()) {
        let role: Role = part.parse()?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    roles.sort();
    Ok(roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_default_is_the_upstream_names() {
        let map = RoleMap::default();
        assert_eq!(map.service(Role::Db), Some("xiaozhi-esp32-server-db"));
        assert_eq!(map.role_of("xiaozhi-esp32-server-web"), Some(Role::Web));
        assert_eq!(map.present(), Role::ALL);
        assert!(map.absent().is_empty());
    }

    fn server_and_web() -> RoleMap {
        let mut map = RoleMap::empty();
        map.assign(
            Role::Web,
            "xiaozhi-web",
            Reason::Ports { ports: vec![8002] },
        );
        map.assign(
            Role::Server,
            "xiaozhi-server",
            Reason::Image {
                image: "xiaozhi-esp32-server:server_custom".into(),
            },
        );
        map
    }

    #[test]
    fn absent_roles_are_left_out_of_the_iteration() {
        let map = server_and_web();
        assert_eq!(map.service(Role::Db), None);
        assert!(!map.has(Role::Redis));
        assert_eq!(
            map.iter().collect::<Vec<_>>(),
            [(Role::Server, "xiaozhi-server"), (Role::Web, "xiaozhi-web")]
        );
        assert_eq!(map.absent(), [Role::Db, Role::Redis]);
        assert_eq!(
            map.summary(),
            "server = `xiaozhi-server`; web = `xiaozhi-web`; db, redis not in this deployment"
        );
    }

    #[test]
    fn only_chooses_among_the_roles_present() {
        let map = server_and_web();
        assert_eq!(map.choose(&[]).unwrap(), [Role::Server, Role::Web]);
        assert_eq!(map.choose(&[Role::Web]).unwrap(), [Role::Web]);
        let err = map.choose(&[Role::Server, Role::Db]).unwrap_err();
        assert_eq!(err.to_string(), "db is not in this deployment");
        assert_eq!(
            err.hint(),
            "choose among the roles it has: server, web; if a service plays db, map it with \
             `--service db=NAME`"
        );
        let err = map.choose(&[Role::Db, Role::Redis]).unwrap_err();
        assert_eq!(err.to_string(), "db, redis are not in this deployment");
    }

    #[test]
    fn each_reason_in_words_and_for_json() {
        let cases = [
            (Reason::CommandLine, "command-line", "by `--service`"),
            (Reason::Config, "config", "by `[services]` in xzup.toml"),
            (
                Reason::UpstreamName,
                "upstream-name",
                "by its upstream name",
            ),
            (
                Reason::Image {
                    image: "mysql:8.0".into(),
                },
                "image",
                "by image `mysql:8.0`",
            ),
            (
                Reason::Ports { ports: vec![6379] },
                "ports",
                "by published port 6379 of a `build:` service",
            ),
            (
                Reason::Ports {
                    ports: vec![8000, 8003],
                },
                "ports",
                "by published ports 8000, 8003 of a `build:` service",
            ),
            (
                Reason::ContainerName {
                    name: "xiaozhi-esp32-server".into(),
                },
                "container-name",
                "by container name `xiaozhi-esp32-server` of a `build:` service",
            ),
        ];
        for (reason, kind, words) in cases {
            assert_eq!(reason.kind(), kind);
            assert_eq!(reason.to_string(), words);
        }
        let rows = server_and_web().rows();
        assert_eq!(
            serde_json::to_value(&rows[0]).unwrap(),
            serde_json::json!({
                "role": "server", "service": "xiaozhi-server", "by": "image",
                "reason": "by image `xiaozhi-esp32-server:server_custom`",
            })
        );
        assert_eq!(
            serde_json::to_value(&rows[1]).unwrap(),
            serde_json::json!({
                "role": "db", "service": null, "by": null, "reason": "not in this deployment",
            })
        );
    }

    /// The journal's form: absent roles are not written, and it reads back the same.
    #[test]
    fn a_map_round_trips_through_json() {
        let map = server_and_web();
        let json = serde_json::to_value(&map).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "server": {"service": "xiaozhi-server", "reason": {"by": "image", "image": "xiaozhi-esp32-server:server_custom"}},
                "web": {"service": "xiaozhi-web", "reason": {"by": "ports", "ports": [8002]}},
            })
        );
        let back: RoleMap = serde_json::from_value(json).unwrap();
        assert_eq!(back, map);
    }

    #[test]
    fn two_roles_on_one_service_are_refused_whatever_the_order() {
        let mapped = |service: &str, origin| Override {
            service: Some(service.into()),
            origin,
        };
        let mut o = Overrides::default();
        o.set(Role::Redis, mapped("kv", Origin::Config));
        o.set(Role::Db, mapped("kv", Origin::CommandLine));
        let err = o.check().unwrap_err();
        assert_eq!(
            err.to_string(),
            "the db role (--service) and the redis role (xzup.toml) are both mapped to service \
             `kv`: a service plays one role"
        );
        assert_eq!(err.origin(), Origin::CommandLine);
        o.set(Role::Db, mapped("kv", Origin::Config));
        assert_eq!(
            o.check().unwrap_err().to_string(),
            "the db and redis roles are both mapped to service `kv`: a service plays one role"
        );
        // Mapped again, redis elsewhere: fine. Two roles mapped to none: fine.
        o.set(Role::Redis, mapped("cache", Origin::CommandLine));
        o.set(
            Role::Web,
            Override {
                service: None,
                origin: Origin::CommandLine,
            },
        );
        o.set(
            Role::Server,
            Override {
                service: None,
                origin: Origin::Config,
            },
        );
        assert_eq!(o.check(), Ok(()));
    }

    #[test]
    fn only_is_sorted_by_priority() {
        assert_eq!(
            parse_only("web,server,db,server").unwrap(),
            vec![Role::Server, Role::Db, Role::Web]
        );
        assert!(parse_only("server,gpu").is_err());
    }
}
