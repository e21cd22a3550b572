//! The tiers-file format: the tables and keys a file may have, and the rule each value must
//! meet — a reservation at most its limit, a buffer pool or `maxmemory` below its
//! container's memory, a Redis policy Redis knows, a tier name that can be a file name.
//! A rule is checked where the value is read, so its error points at the value.
//! The format is documented at the top of `templates/tiers.toml`.

use std::collections::BTreeMap;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::roles::Role;
use crate::settings::{Allocation, MysqlSettings, RedisSettings, Resources};
use crate::units::{Cpus, Memory};

use super::error::backticked;
use super::reader::{Key, Reader, Value, sorted};
use super::{CUSTOM, Tier, TierInfo, TiersError};

/// Keys of a `[tiers.NAME]` table.
const TIER_KEYS: &[&str] = &["label", "users", "host", "server", "web", "db", "redis"];
const HOST_KEYS: &[&str] = &["cpus", "memory"];
const ALLOCATION_KEYS: &[&str] = &["cpus", "memory"];
const SERVICE_KEYS: &[&str] = &["limits", "reservations"];
const DB_KEYS: &[&str] = &[
    "limits",
    "reservations",
    "max_connections",
    "innodb_buffer_pool_size",
    "innodb_log_file_size",
];
const REDIS_KEYS: &[&str] = &[
    "limits",
    "reservations",
    "maxmemory",
    "maxmemory-policy",
    "save",
];

/// The roles in the order a tier lists them (the plan's tables: Server, Web, MySQL, Redis).
const FILE_ROLES: [Role; 4] = [Role::Server, Role::Web, Role::Db, Role::Redis];

/// Redis's eviction policies (redis.conf, `maxmemory-policy`). A typo here would only show
/// when the new redis container fails to start, after the stack is down — so it is caught
/// when the catalog is read.
const REDIS_POLICIES: &[&str] = &[
    "volatile-lru",
    "allkeys-lru",
    "volatile-lfu",
    "allkeys-lfu",
    "volatile-random",
    "allkeys-random",
    "volatile-ttl",
    "noeviction",
];

/// MySQL's range for `max_connections` (MySQL 8.4 reference, server system variables).
const MAX_CONNECTIONS: std::ops::RangeInclusive<i64> = 1..=100_000;

const ALLOCATION_EXAMPLE: &str = "{ cpus = 4, memory = \"8G\" }";

/// The tiers in `text` (read from `origin`, the `FILE` errors name), in file order.
pub(super) fn read(origin: String, text: &str) -> Result<Vec<Tier>, TiersError> {
    Reader::new(origin, text).catalog()
}

impl Reader<'_> {
    fn catalog(&self) -> Result<Vec<Tier>, TiersError> {
        let doc = self.document()?;
        let root = doc.get_ref();
        self.check_keys(root, "", &["tiers"])?;
        let Some((key, value)) = root.get_key_value("tiers") else {
            return Err(TiersError::NoTiers { at: self.at(0..0) });
        };
        let tiers = self.table(value, "tiers", "[tiers.NAME]")?;
        if tiers.is_empty() {
            return Err(TiersError::NoTiers {
                at: self.at(key.span()),
            });
        }
        // Without toml's `preserve_order` the table is sorted by name; the keys' spans
        // give back the order the file lists the tiers in.
        let mut entries: Vec<(&Key<'_>, &Value<'_>)> = tiers.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        entries.into_iter().map(|(k, v)| self.tier(k, v)).collect()
    }

    fn tier(&self, key: &Key<'_>, value: &Value<'_>) -> Result<Tier, TiersError> {
        let name = key.get_ref().to_string();
        if !valid_tier_name(&name) {
            return Err(TiersError::BadTierName {
                at: self.at(key.span()),
                name,
            });
        }
        let path = format!("tiers.{name}");
        let table = self.table(value, &path, &format!("[{path}]"))?;
        for (k, v) in sorted(table) {
            if TIER_KEYS.contains(&k.get_ref().as_ref()) {
                continue;
            }
            if matches!(v.get_ref(), DeValue::Table(_)) {
                return Err(TiersError::UnknownRole {
                    at: self.at(k.span()),
                    tier: name,
                    role: k.get_ref().to_string(),
                });
            }
            return Err(self.unknown_key(k, &path, TIER_KEYS));
        }

        let label = self.optional_string(table, "label", &path, "\"plan A\"")?;
        let users = self.optional_string(table, "users", &path, "\"10-20\"")?;

        let mut services = BTreeMap::new();
        let mut mysql = None;
        let mut redis = None;
        for role in FILE_ROLES {
            let Some((role_key, role_value)) = table.get_key_value(role.name()) else {
                return Err(TiersError::MissingRole {
                    at: self.at(key.span()),
                    tier: name,
                    role,
                });
            };
            let role_path = format!("{path}.{role}");
            let role_table = self.table(role_value, &role_path, &format!("[{role_path}]"))?;
            let allowed = match role {
                Role::Db => DB_KEYS,
                Role::Redis => REDIS_KEYS,
                Role::Server | Role::Web => SERVICE_KEYS,
            };
            self.check_keys(role_table, &role_path, allowed)?;
            let resources = self.resources(role_table, role_key, &role_path)?;
            match role {
                Role::Db => {
                    mysql = Some(self.mysql(role_table, role_key, &role_path, &resources)?);
                }
                Role::Redis => {
                    redis = Some(self.redis(role_table, role_key, &role_path, &resources)?);
                }
                Role::Server | Role::Web => {}
            }
            services.insert(role, resources);
        }
        let mysql = mysql.expect("the db role was read");
        let redis = redis.expect("the redis role was read");

        let (host_cpus, host_memory) = match table.get_key_value("host") {
            Some((host_key, host_value)) => self.host(host_key, host_value, &path)?,
            None => default_host(&services),
        };
        Ok(Tier {
            name,
            info: TierInfo {
                label: label.unwrap_or_default(),
                users: users.unwrap_or_default(),
                host_cpus,
                host_memory,
            },
            services,
            mysql,
            redis,
        })
    }

    /// `limits` and `reservations` of a role table; each reservation at most its limit.
    fn resources(
        &self,
        table: &DeTable<'_>,
        table_key: &Key<'_>,
        path: &str,
    ) -> Result<Resources, TiersError> {
        let limits = self.allocation(table, "limits", table_key, path)?;
        let reservations = self.allocation(table, "reservations", table_key, path)?;
        if reservations.cpus.get_ref() > limits.cpus.get_ref() {
            return Err(TiersError::ReservationAboveLimit {
                at: self.at(reservations.cpus.span()),
                key: format!("{path}.reservations.cpus"),
                reservation: reservations.cpus.get_ref().to_string(),
                limit_key: "limits.cpus",
                limit: limits.cpus.get_ref().to_string(),
            });
        }
        if reservations.memory.get_ref().bytes > limits.memory.get_ref().bytes {
            return Err(TiersError::ReservationAboveLimit {
                at: self.at(reservations.memory.span()),
                key: format!("{path}.reservations.memory"),
                reservation: reservations.memory.get_ref().to_string(),
                limit_key: "limits.memory",
                limit: limits.memory.get_ref().to_string(),
            });
        }
        Ok(Resources {
            limits: limits.into_allocation(),
            reservations: reservations.into_allocation(),
        })
    }

    fn allocation(
        &self,
        table: &DeTable<'_>,
        key: &'static str,
        table_key: &Key<'_>,
        path: &str,
    ) -> Result<SpannedAllocation, TiersError> {
        let (alloc_key, value) = self.require(table, key, table_key, path, ALLOCATION_EXAMPLE)?;
        let alloc_path = format!("{path}.{key}");
        let alloc = self.table(value, &alloc_path, ALLOCATION_EXAMPLE)?;
        self.check_keys(alloc, &alloc_path, ALLOCATION_KEYS)?;
        let (_, cpus) = self.require(alloc, "cpus", alloc_key, &alloc_path, "4")?;
        let cpus = self.cpus(cpus, &format!("{alloc_path}.cpus"))?;
        let (_, memory) = self.require(alloc, "memory", alloc_key, &alloc_path, "\"8G\"")?;
        let memory = self.size(
            memory,
            &format!("{alloc_path}.memory"),
            "\"8G\"",
            Memory::parse_compose,
        )?;
        Ok(SpannedAllocation { cpus, memory })
    }

    fn mysql(
        &self,
        table: &DeTable<'_>,
        table_key: &Key<'_>,
        path: &str,
        resources: &Resources,
    ) -> Result<MysqlSettings, TiersError> {
        let (_, value) = self.require(table, "max_connections", table_key, path, "2000")?;
        let key = format!("{path}.max_connections");
        let number = self.integer(value, &key, "2000")?;
        if !MAX_CONNECTIONS.contains(&number) {
            return Err(TiersError::BadValue {
                at: self.at(value.span()),
                key,
                text: number.to_string(),
                what: "max_connections",
                expected: "write a whole number from 1 to 100000 (MySQL's range)".into(),
            });
        }
        let max_connections = u32::try_from(number).expect("checked against MySQL's range");

        let pool_key = "innodb_buffer_pool_size";
        let (_, value) = self.require(table, pool_key, table_key, path, "\"2G\"")?;
        let pool = self.size(
            value,
            &format!("{path}.{pool_key}"),
            "\"2G\"",
            Memory::parse_mysql,
        )?;
        self.below_memory_limit(&pool, &format!("{path}.{pool_key}"), Role::Db, resources)?;

        let log_key = "innodb_log_file_size";
        let (_, value) = self.require(table, log_key, table_key, path, "\"256M\"")?;
        let log = self.size(
            value,
            &format!("{path}.{log_key}"),
            "\"256M\"",
            Memory::parse_mysql,
        )?;
        Ok(MysqlSettings {
            max_connections,
            innodb_buffer_pool_size: pool.into_inner(),
            innodb_log_file_size: log.into_inner(),
        })
    }

    fn redis(
        &self,
        table: &DeTable<'_>,
        table_key: &Key<'_>,
        path: &str,
        resources: &Resources,
    ) -> Result<RedisSettings, TiersError> {
        let (_, value) = self.require(table, "maxmemory", table_key, path, "\"1536mb\"")?;
        let key = format!("{path}.maxmemory");
        let maxmemory = self.size(value, &key, "\"1536mb\"", Memory::parse_redis)?;
        self.below_memory_limit(&maxmemory, &key, Role::Redis, resources)?;

        let policy_key = "maxmemory-policy";
        let (_, value) = self.require(table, policy_key, table_key, path, "\"allkeys-lru\"")?;
        let key = format!("{path}.{policy_key}");
        let policy = self.string(value, &key, "\"allkeys-lru\"")?;
        if !REDIS_POLICIES.contains(&policy.to_ascii_lowercase().as_str()) {
            return Err(TiersError::BadValue {
                at: self.at(value.span()),
                key,
                text: policy.to_string(),
                what: "Redis maxmemory-policy",
                expected: format!("use one of {}", backticked(REDIS_POLICIES)),
            });
        }

        let save = match table.get_key_value("save") {
            None => None,
            Some((_, value)) => Some(self.save_rules(value, &format!("{path}.save"))?),
        };
        Ok(RedisSettings {
            maxmemory: maxmemory.into_inner(),
            maxmemory_policy: policy.to_ascii_lowercase(),
            save,
        })
    }

    /// `save = ["900 1", "300 10"]`: each rule `SECONDS CHANGES`, normalised to one space.
    fn save_rules(&self, value: &Value<'_>, key: &str) -> Result<Vec<String>, TiersError> {
        const EXAMPLE: &str = "[\"900 1\", \"300 10\", \"60 10000\"]";
        let DeValue::Array(items) = value.get_ref() else {
            return Err(self.wrong_type(value, key, "a list of rules", EXAMPLE));
        };
        let bad = |at: &Value<'_>, text: String| TiersError::BadValue {
            at: self.at(at.span()),
            key: key.to_string(),
            text,
            what: "Redis save rule",
            expected: "write each rule as \"SECONDS CHANGES\", like \"900 1\"; to keep the \
                       file's own rules, leave `save` out"
                .into(),
        };
        if items.is_empty() {
            return Err(bad(value, "[]".into()));
        }
        let mut rules = Vec::new();
        for item in items.iter() {
            let rule = self.string(item, key, "\"900 1\"")?;
            let numbers: Vec<&str> = rule.split_whitespace().collect();
            let valid = numbers.len() == 2
                && numbers
                    .iter()
                    .all(|n| n.parse::<u64>().is_ok_and(|n| n > 0));
            if !valid {
                return Err(bad(item, rule.to_string()));
            }
            rules.push(numbers.join(" "));
        }
        Ok(rules)
    }

    /// `host = { cpus = 18, memory = "32G" }`
    fn host(
        &self,
        key: &Key<'_>,
        value: &Value<'_>,
        path: &str,
    ) -> Result<(u32, Memory), TiersError> {
        const EXAMPLE: &str = "{ cpus = 18, memory = \"32G\" }";
        let host_path = format!("{path}.host");
        let table = self.table(value, &host_path, EXAMPLE)?;
        self.check_keys(table, &host_path, HOST_KEYS)?;
        let (_, cpus) = self.require(table, "cpus", key, &host_path, "18")?;
        let cpus_key = format!("{host_path}.cpus");
        let number = self.integer(cpus, &cpus_key, "18")?;
        let cpus_number = u32::try_from(number).ok().filter(|n| *n > 0);
        let Some(cpus_number) = cpus_number else {
            return Err(TiersError::BadValue {
                at: self.at(cpus.span()),
                key: cpus_key,
                text: number.to_string(),
                what: "core count",
                expected: "write a whole number of cores, at least 1".into(),
            });
        };
        let (_, memory) = self.require(table, "memory", key, &host_path, "\"32G\"")?;
        let memory = self.size(
            memory,
            &format!("{host_path}.memory"),
            "\"32G\"",
            Memory::parse_compose,
        )?;
        Ok((cpus_number, memory.into_inner()))
    }

    fn below_memory_limit(
        &self,
        size: &Spanned<Memory>,
        key: &str,
        role: Role,
        resources: &Resources,
    ) -> Result<(), TiersError> {
        let limit = &resources.limits.memory;
        if size.get_ref().bytes < limit.bytes {
            return Ok(());
        }
        Err(TiersError::AboveMemoryLimit {
            at: self.at(size.span()),
            key: key.to_string(),
            value: size.get_ref().to_string(),
            role,
            limit: limit.to_string(),
        })
    }
}

/// An allocation with the places its values were read from.
struct SpannedAllocation {
    cpus: Spanned<Cpus>,
    memory: Spanned<Memory>,
}

impl SpannedAllocation {
    fn into_allocation(self) -> Allocation {
        Allocation {
            cpus: self.cpus.into_inner(),
            memory: self.memory.into_inner(),
        }
    }
}

/// Tier names end up in file names (`docker-compose-NAME.yml`) and on command lines.
fn valid_tier_name(name: &str) -> bool {
    name != CUSTOM
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Without a `host` entry: the tier's total limits, cores rounded up.
fn default_host(services: &BTreeMap<Role, Resources>) -> (u32, Memory) {
    let millis: u32 = services.values().map(|r| r.limits.cpus.0).sum();
    let bytes = services.values().map(|r| r.limits.memory.bytes).sum();
    (millis.div_ceil(1000), Memory::from_bytes(bytes))
}
