//! Live tier changes (`--strategy live`): the new limits and MySQL/Redis settings set on
//! the running containers, with no restart (NOTES: "Changing resources without a
//! restart").
//!
//! - [`decide`]: setting by setting, whether it can change live on this stack and why not
//!   (pure: unit-tested).
//! - [`limits`]: the `docker update` flags, with `--memory-swap` kept consistent.
//! - `probe.rs`: the running values of each role's container ([`probe::read`]) — limits
//!   from `docker inspect`, usage from `docker stats`, `SHOW VARIABLES`, `CONFIG GET` —
//!   and the assessment the plan, `apply` and preflight share ([`probe::assess`]).
//! - `set.rs`: setting values on a running container (forward and back), and waiting for
//!   MariaDB/MySQL's online buffer pool resize to finish.
//! - `drift.rs`: what runs against what the active file says (`xzup status`): what a
//!   restart would revert, and the command that settles it.
//!
//! It imports the Docker driver and the value types; nothing imports it but the commands
//! and the live steps.

mod drift;
mod probe;
mod set;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::journal::LiveValues;
use crate::roles::Role;
use crate::settings::{ObservedMysql, ObservedRedis, ObservedResources};
use crate::units::{Cpus, human_bytes};

pub(crate) use drift::{Drift, drift};
pub(crate) use probe::{Assessment, assess, assess_files, facts_of, read, root_password};
pub(crate) use set::{parts, restore, set_target};

/// Why a live change cannot be assessed or made.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),
    #[error(transparent)]
    Compose(#[from] crate::compose::ComposeError),
    /// `--strategy live` with a setting that cannot change live.
    #[error("--strategy live: cannot change live: {0}; nothing was changed")]
    NotLive(String),
}

impl LiveError {
    pub fn hint(&self) -> Option<String> {
        match self {
            LiveError::Docker(e) => e.hint(),
            LiveError::Compose(e) => e.hint(),
            LiveError::NotLive(_) => Some(
                "`--strategy restart` takes the restart path (an outage), `--strategy auto` takes it only when it must; `xzup plan --strategy live` shows each setting"
                    .into(),
            ),
        }
    }
}

/// The database server of the db role, as `SELECT VERSION()` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct DbServer {
    pub mariadb: bool,
    pub version: (u32, u32, u32),
}

impl DbServer {
    /// `10.11.6-MariaDB-1:10.11.6+maria~ubu2204` → MariaDB 10.11.6; `8.0.36` → MySQL.
    pub fn parse(version: &str) -> Option<DbServer> {
        let mariadb = version.to_ascii_lowercase().contains("mariadb");
        let mut numbers = version
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u32>().ok());
        let major = numbers.next()??;
        let minor = numbers.next().flatten().unwrap_or(0);
        let patch = numbers.next().flatten().unwrap_or(0);
        Some(DbServer {
            mariadb,
            version: (major, minor, patch),
        })
    }

    pub fn at_least(self, major: u32, minor: u32, patch: u32) -> bool {
        self.version >= (major, minor, patch)
    }

    /// MySQL 8.0.30+ sizes the redo log with `innodb_redo_log_capacity` (dynamic).
    pub fn has_redo_log_capacity(self) -> bool {
        !self.mariadb && self.at_least(8, 0, 30)
    }

    /// MySQL 8's `SET PERSIST` (kept across restarts in `mysqld-auto.cnf`).
    pub fn has_set_persist(self) -> bool {
        !self.mariadb && self.at_least(8, 0, 0)
    }

    pub fn describe(self) -> String {
        let (a, b, c) = self.version;
        format!(
            "{} {a}.{b}.{c}",
            if self.mariadb { "MariaDB" } else { "MySQL" }
        )
    }
}

/// What the new file wants of one role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub resources: ObservedResources,
    pub mysql: ObservedMysql,
    pub redis: ObservedRedis,
}

/// What runs now in one role's container, as [`decide`] needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Running {
    /// `None`: no running container.
    pub values: Option<LiveValues>,
    /// Memory in use now (`docker stats`), when it could be read.
    pub usage: Option<u64>,
    pub db: Option<DbServer>,
    /// Why the db/redis variables could not be read, when they could not.
    pub unreadable: Option<String>,
}

/// A setting that differs between what runs and what the new file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Change {
    pub role: Role,
    pub service: String,
    /// `memory limit`, `cpus limit`, `memory reservation`, `max_connections`,
    /// `innodb_buffer_pool_size`, `innodb_log_file_size`, `maxmemory`,
    /// `maxmemory-policy`, `save`.
    pub setting: &'static str,
    pub from: String,
    pub to: String,
    /// `None`: it can change live; else why not.
    pub not_live: Option<String>,
}

impl Change {
    pub fn is_live(&self) -> bool {
        self.not_live.is_none()
    }

    /// `db innodb_log_file_size 48M -> 96M: not dynamic before MariaDB 10.9`.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{} {} {} -> {}",
            self.service, self.setting, self.from, self.to
        );
        if let Some(why) = &self.not_live {
            text.push_str(": ");
            text.push_str(why);
        }
        text
    }
}

/// The limits to set on a container (`None`: leave as it is).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub memory: Option<u64>,
    pub memory_swap: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub reservation: Option<u64>,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        *self == Limits::default()
    }

    /// The `docker update` flags.
    pub fn argv(&self) -> Vec<String> {
        let mut argv = Vec::new();
        if let Some(memory) = self.memory {
            argv.extend(["--memory".to_string(), memory.to_string()]);
        }
        if let Some(swap) = self.memory_swap {
            argv.extend(["--memory-swap".to_string(), swap.to_string()]);
        }
        if let Some(nano) = self.nano_cpus {
            argv.extend(["--cpus".to_string(), Cpus::from_nano(nano).to_string()]);
        }
        if let Some(reservation) = self.reservation {
            argv.extend(["--memory-reservation".to_string(), reservation.to_string()]);
        }
        argv
    }
}

/// The limits that bring `before` to `want` (0 in the file's terms: no limit). Docker
/// refuses a memory limit above the current `MemorySwap`, so the swap moves with it, as a
/// container created from the new file would have it: twice the limit (Docker's default,
/// and what a container created with a limit shows), the limit itself when it had no
/// swap, unlimited when unlimited, else the same swap allowance above the new limit.
pub(crate) fn limits(before: &LiveValues, want: &ObservedResources) -> Limits {
    let mut out = Limits::default();
    let memory = want.limit_memory.as_ref().map_or(0, |m| m.bytes);
    if memory != before.memory && memory > 0 {
        out.memory = Some(memory);
        let (old, swap) = (before.memory as i64, before.memory_swap);
        let new = memory as i64;
        out.memory_swap = Some(if swap == -1 {
            -1
        } else if swap <= 0 || old == 0 || swap == 2 * old {
            2 * new
        } else if swap == old {
            new
        } else {
            new + (swap - old).max(0)
        });
    }
    let nano = want.limit_cpus.map_or(0, Cpus::nano);
    if nano != before.nano_cpus {
        out.nano_cpus = Some(nano);
    }
    let reservation = want.reserve_memory.as_ref().map_or(0, |m| m.bytes);
    if reservation != before.memory_reservation {
        out.reservation = Some(reservation);
    }
    out
}

/// The limits that put `before` back exactly (the rollback of a live run).
pub(crate) fn limits_back(now: &LiveValues, before: &LiveValues) -> Limits {
    let mut out = Limits::default();
    if now.memory != before.memory || now.memory_swap != before.memory_swap {
        out.memory = Some(before.memory);
        out.memory_swap = Some(before.memory_swap);
    }
    if now.nano_cpus != before.nano_cpus {
        out.nano_cpus = Some(before.nano_cpus);
    }
    if now.memory_reservation != before.memory_reservation {
        out.reservation = Some(before.memory_reservation);
    }
    out
}

/// The MySQL variable that holds the redo log size on `db` for the file's
/// `innodb_log_file_size`, and its value for `bytes` (MySQL 8.0.30+ derives its capacity
/// from `innodb_log_file_size × innodb_log_files_in_group`, 2 by default).
pub(crate) fn log_size_variable(db: DbServer, bytes: u64) -> (&'static str, u64) {
    if db.has_redo_log_capacity() {
        ("innodb_redo_log_capacity", bytes * 2)
    } else {
        ("innodb_log_file_size", bytes)
    }
}

/// The MySQL variables `want` sets on `db`, name → value, in the order they are set.
pub(crate) fn mysql_targets(want: &ObservedMysql, db: Option<DbServer>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(n) = want.max_connections {
        out.push(("max_connections".to_string(), n.to_string()));
    }
    if let Some(pool) = &want.innodb_buffer_pool_size {
        out.push((
            "innodb_buffer_pool_size".to_string(),
            pool.bytes.to_string(),
        ));
    }
    if let (Some(log), Some(db)) = (&want.innodb_log_file_size, db) {
        let (name, value) = log_size_variable(db, log.bytes);
        out.push((name.to_string(), value.to_string()));
    }
    out
}

/// The Redis parameters `want` sets, name → value (`save` as Redis prints it).
pub(crate) fn redis_targets(want: &ObservedRedis) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(max) = &want.maxmemory {
        out.push(("maxmemory".to_string(), max.bytes.to_string()));
    }
    if let Some(policy) = &want.maxmemory_policy {
        out.push(("maxmemory-policy".to_string(), policy.to_ascii_lowercase()));
    }
    if !want.save.is_empty() {
        out.push(("save".to_string(), save_text(&want.save)));
    }
    out
}

/// `["900 1", "300 10"]` → `900 1 300 10`, as `CONFIG GET save` prints it.
pub(crate) fn save_text(rules: &[String]) -> String {
    rules
        .iter()
        .flat_map(|r| r.split_whitespace())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every setting of one role that differs between `running` and `want`, each with
/// whether it can change live and why not.
pub(crate) fn decide(role: Role, service: &str, want: &Wanted, running: &Running) -> Vec<Change> {
    let mut out = Vec::new();
    let change =
        |setting: &'static str, from: String, to: String, not_live: Option<String>| Change {
            role,
            service: service.to_string(),
            setting,
            from,
            to,
            not_live,
        };
    let Some(values) = &running.values else {
        out.push(change(
            "container",
            "not running".into(),
            "running".into(),
            Some(format!("`{service}` has no running container to change")),
        ));
        return out;
    };
    let limit = |bytes: u64| {
        if bytes == 0 {
            "none".to_string()
        } else {
            human_bytes(bytes)
        }
    };
    let memory = want.resources.limit_memory.as_ref().map_or(0, |m| m.bytes);
    if memory != values.memory {
        let not_live = if memory == 0 {
            Some("taking a memory limit away needs a restart".to_string())
        } else {
            match running.usage {
                Some(used) if used >= memory => Some(format!(
                    "the container uses {} now, above the new limit",
                    human_bytes(used)
                )),
                _ => None,
            }
        };
        out.push(change(
            "memory limit",
            limit(values.memory),
            limit(memory),
            not_live,
        ));
    }
    let nano = want.resources.limit_cpus.map_or(0, Cpus::nano);
    if nano != values.nano_cpus {
        let cpus = |n: i64| {
            if n == 0 {
                "none".to_string()
            } else {
                Cpus::from_nano(n).to_string()
            }
        };
        out.push(change(
            "cpus limit",
            cpus(values.nano_cpus),
            cpus(nano),
            None,
        ));
    }
    let reservation = want
        .resources
        .reserve_memory
        .as_ref()
        .map_or(0, |m| m.bytes);
    if reservation != values.memory_reservation {
        let not_live = (memory > 0 && reservation >= memory)
            .then(|| "a memory reservation must be below the memory limit".to_string());
        out.push(change(
            "memory reservation",
            limit(values.memory_reservation),
            limit(reservation),
            not_live,
        ));
    }

    if role == Role::Db {
        let targets = mysql_targets(&want.mysql, running.db);
        if !targets.is_empty() || want.mysql.innodb_log_file_size.is_some() {
            let unreadable = running.unreadable.clone().or_else(|| {
                running
                    .db
                    .is_none()
                    .then(|| "the server version is unknown".into())
            });
            if let Some(why) = unreadable {
                out.push(change(
                    "MySQL settings",
                    "unknown".into(),
                    "the file's".into(),
                    Some(format!("cannot read the server's variables: {why}")),
                ));
                return out;
            }
        }
        let db = running.db.expect("checked above");
        for (name, value) in targets {
            let now = values.mysql.get(&name).cloned().unwrap_or_default();
            if now == value {
                continue;
            }
            let setting: &'static str = match name.as_str() {
                "max_connections" => "max_connections",
                "innodb_buffer_pool_size" => "innodb_buffer_pool_size",
                "innodb_redo_log_capacity" => "innodb_redo_log_capacity",
                _ => "innodb_log_file_size",
            };
            let not_live = match setting {
                "innodb_buffer_pool_size" if !db.mariadb && !db.at_least(5, 7, 5) => {
                    Some(format!("not dynamic on {}", db.describe()))
                }
                "innodb_log_file_size" if db.mariadb && !db.at_least(10, 9, 0) => Some(format!(
                    "not dynamic before MariaDB 10.9 ({} runs)",
                    db.describe()
                )),
                "innodb_log_file_size" if !db.mariadb => Some(format!(
                    "not dynamic before MySQL 8.0.30 ({} runs)",
                    db.describe()
                )),
                _ if !values.mysql.contains_key(&name) => {
                    Some(format!("{} has no `{name}`", db.describe()))
                }
                _ => None,
            };
            let shown = |v: &str| match setting {
                "max_connections" => v.to_string(),
                _ => v.parse::<u64>().map_or(v.to_string(), human_bytes),
            };
            out.push(change(setting, shown(&now), shown(&value), not_live));
        }
    }
    if role == Role::Redis {
        let targets = redis_targets(&want.redis);
        if !targets.is_empty()
            && let Some(why) = &running.unreadable
        {
            out.push(change(
                "Redis settings",
                "unknown".into(),
                "the file's".into(),
                Some(format!("cannot read Redis's parameters: {why}")),
            ));
            return out;
        }
        for (name, value) in targets {
            let now = values.redis.get(&name).cloned().unwrap_or_default();
            if now == value {
                continue;
            }
            let setting: &'static str = match name.as_str() {
                "maxmemory" => "maxmemory",
                "maxmemory-policy" => "maxmemory-policy",
                _ => "save",
            };
            let shown = |v: &str| match setting {
                "maxmemory" => v.parse::<u64>().map_or(v.to_string(), human_bytes),
                _ => format!("\"{v}\""),
            };
            let not_live = (!values.redis.contains_key(&name))
                .then(|| format!("this Redis has no `{name}` parameter"));
            out.push(change(setting, shown(&now), shown(&value), not_live));
        }
    }
    out
}

/// The changes of every role, in role order; `BTreeMap` keeps the order stable.
pub(crate) fn decide_all(
    wanted: &BTreeMap<Role, (String, Wanted)>,
    running: &BTreeMap<Role, Running>,
) -> Vec<Change> {
    wanted
        .iter()
        .flat_map(|(role, (service, want))| {
            let now = running.get(role).cloned().unwrap_or_default();
            decide(*role, service, want, &now)
        })
        .collect()
}

#[cfg(test)]
mod tests;
