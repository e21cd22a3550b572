//! The four roles of a xiaozhi deployment and the compose services that play them.
//!
//! Tiers speak of roles (server, web, db, redis); compose files speak of service names.
//! The defaults are the upstream names; a deployment can map a role elsewhere with
//! `--service ROLE=NAME` or a `[services]` table in its `xzup.toml`.

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

/// Which compose service plays each role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleMap {
    services: BTreeMap<Role, String>,
}

impl Default for RoleMap {
    fn default() -> Self {
        RoleMap {
            services: Role::ALL
                .iter()
                .map(|r| (*r, r.default_service().to_string()))
                .collect(),
        }
    }
}

impl RoleMap {
    /// The service playing `role`.
    pub fn service(&self, role: Role) -> &str {
        &self.services[&role]
    }

    /// Maps `role` to `service`.
    pub fn set(&mut self, role: Role, service: impl Into<String>) {
        self.services.insert(role, service.into());
    }

    /// The role a service plays, if any.
    pub fn role_of(&self, service: &str) -> Option<Role> {
        self.services
            .iter()
            .find(|(_, s)| s.as_str() == service)
            .map(|(r, _)| *r)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Role, &str)> {
        Role::ALL.iter().map(|r| (*r, self.service(*r)))
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
    fn defaults_are_upstream_names() {
        let map = RoleMap::default();
        assert_eq!(map.service(Role::Db), "xiaozhi-esp32-server-db");
        assert_eq!(map.role_of("xiaozhi-esp32-server-web"), Some(Role::Web));
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
