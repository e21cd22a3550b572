//! The settings a tier decides for the four roles, as a tier wants them and as a compose
//! file has them: each service's resources (`deploy.resources.limits`/`.reservations`)
//! and the MySQL and Redis flags on the db and redis `command:`.
//!
//! These value types are what the tier catalog ([`crate::tiers`]), the compose reader and
//! renderer ([`crate::compose`]), the plan and verification pass between them, so they
//! live here, apart from all of them: each of those modules imports this one, and this
//! one imports none of them.
//!
//! - Wanted: [`Resources`] (of [`Allocation`]s), [`MysqlSettings`], [`RedisSettings`], and
//!   [`Target`], what a render writes.
//! - Found: [`Observed`], with [`ObservedResources`], [`ObservedMysql`], [`ObservedRedis`];
//!   every value optional, since a file may set none of them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::roles::Role;
use crate::units::{Cpus, Memory};

/// CPUs and memory, as a limit or a reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allocation {
    pub cpus: Cpus,
    pub memory: Memory,
}

/// What a tier gives one service: `deploy.resources.limits` and `.reservations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resources {
    pub limits: Allocation,
    pub reservations: Allocation,
}

/// The MySQL flags a tier sets on the db service's `command:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MysqlSettings {
    pub max_connections: u32,
    pub innodb_buffer_pool_size: Memory,
    pub innodb_log_file_size: Memory,
}

/// The Redis flags a tier sets on the redis service's `command:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedisSettings {
    pub maxmemory: Memory,
    pub maxmemory_policy: String,
    /// `save` rules (`"900 1"`); `None` leaves whatever the file has.
    pub save: Option<Vec<String>>,
}

/// What to write: resources per role (only the roles being changed), and the MySQL/Redis
/// flags when db/redis are among them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub resources: BTreeMap<Role, Resources>,
    pub mysql: Option<MysqlSettings>,
    pub redis: Option<RedisSettings>,
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

/// Everything xzup reads from a file about the roles in the deployment: `services` holds
/// only the roles a service plays, `mysql`/`redis` are empty without a db/redis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observed {
    pub services: BTreeMap<Role, ObservedResources>,
    pub mysql: ObservedMysql,
    pub redis: ObservedRedis,
}

impl From<&Resources> for ObservedResources {
    /// What a file that sets exactly `resources` reads as.
    fn from(resources: &Resources) -> ObservedResources {
        ObservedResources {
            limit_cpus: Some(resources.limits.cpus),
            limit_memory: Some(resources.limits.memory.clone()),
            reserve_cpus: Some(resources.reservations.cpus),
            reserve_memory: Some(resources.reservations.memory.clone()),
        }
    }
}

impl From<&MysqlSettings> for ObservedMysql {
    /// What a `command:` that sets exactly `mysql` reads as.
    fn from(mysql: &MysqlSettings) -> ObservedMysql {
        ObservedMysql {
            max_connections: Some(mysql.max_connections),
            innodb_buffer_pool_size: Some(mysql.innodb_buffer_pool_size.clone()),
            innodb_log_file_size: Some(mysql.innodb_log_file_size.clone()),
        }
    }
}

impl Resources {
    /// Whether `found` sets exactly these limits and reservations (sizes by value).
    pub fn matches(&self, found: &ObservedResources) -> bool {
        *found == ObservedResources::from(self)
    }
}

impl MysqlSettings {
    /// Whether `found` sets exactly these flags (sizes by value).
    pub fn matches(&self, found: &ObservedMysql) -> bool {
        *found == ObservedMysql::from(self)
    }
}

impl RedisSettings {
    /// Whether `found` sets these flags — and these `save` rules, when there are any.
    pub fn matches(&self, found: &ObservedRedis) -> bool {
        // Redis takes config enum values in any case (`ALLKEYS-LRU` works).
        let policy_matches = found
            .maxmemory_policy
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case(&self.maxmemory_policy));
        // `--save "900 1 300 10"` and `--save 900 1 --save 300 10` set the same rules, so
        // compare the numbers, not how they were grouped.
        let numbers = |rules: &[String]| -> Vec<String> {
            rules
                .iter()
                .flat_map(|r| r.split_whitespace().map(str::to_string))
                .collect()
        };
        let save_matches = self
            .save
            .as_ref()
            .is_none_or(|want| numbers(want) == numbers(&found.save));
        found.maxmemory.as_ref() == Some(&self.maxmemory) && policy_matches && save_matches
    }
}
