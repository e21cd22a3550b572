//! The tier catalog: the plan's four resource tiers (or an operator's own), loaded from
//! `templates/tiers.toml` (embedded) or `--tiers-file`, validated, and looked up by name.
//!
//! A tiers file is read as a span-carrying TOML tree (`toml::de::DeTable`) and walked by
//! hand rather than through serde derive, so that every mistake — a bad size, a
//! reservation above its limit, a buffer pool bigger than its container, an unknown role —
//! is reported at its own `FILE:LINE:COLUMN` with a message that says what to write
//! instead. The format is documented at the top of `templates/tiers.toml`.
//!
//! The catalog also answers the two questions other modules ask of tiers: which tier does
//! a compose file's current sizing match ([`Catalog::classify`]), and what should be
//! written for a tier ([`Tier::target`]).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::compose::{Observed, ObservedMysql, ObservedRedis, Target};
use crate::roles::Role;
use crate::units::{Cpus, Memory, UnitError};

/// The built-in catalog.
const EMBEDDED: &str = include_str!("../templates/tiers.toml");

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

/// The host the plan says to ask for, and who the tier is for (display only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierInfo {
    /// e.g. "plan A"; empty when the file gives none.
    pub label: String,
    /// Concurrent users it is meant for, e.g. "10-20"; empty when the file gives none.
    pub users: String,
    /// Host to request, e.g. 18 cores / 32G.
    pub host_cpus: u32,
    pub host_memory: Memory,
}

/// One resource tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tier {
    pub name: String,
    pub info: TierInfo,
    pub services: BTreeMap<Role, Resources>,
    pub mysql: MysqlSettings,
    pub redis: RedisSettings,
}

/// Where a catalog came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CatalogSource {
    Embedded,
    File(PathBuf),
}

impl CatalogSource {
    /// The name errors are reported against (`FILE` in `FILE:LINE:COLUMN`).
    pub fn origin(&self) -> String {
        match self {
            CatalogSource::Embedded => "templates/tiers.toml (built in)".to_string(),
            CatalogSource::File(path) => path.display().to_string(),
        }
    }
}

impl fmt::Display for CatalogSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogSource::Embedded => f.write_str("built in (templates/tiers.toml)"),
            CatalogSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The tiers an operator can choose from, in file order.
#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    pub source: CatalogSource,
    pub tiers: Vec<Tier>,
}

/// Which tier a file's settings match: a tier name, or `custom` with each role's tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    /// The tier every classified role matches, or [`CUSTOM`].
    pub tier: String,
    /// Each classified role's tier; `None` when it matches no tier.
    pub per_role: BTreeMap<Role, Option<String>>,
}

/// What a mix of tiers (or sizes no tier has) is called. No tier may take this name.
pub const CUSTOM: &str = "custom";

impl Classification {
    pub fn is_custom(&self) -> bool {
        self.tier == CUSTOM
    }
}

impl fmt::Display for Classification {
    /// `ultra`, or `custom (server: ultra, db: low, redis: low, web: custom)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tier)?;
        if !self.is_custom() {
            return Ok(());
        }
        if self.per_role.values().all(Option::is_none) {
            return f.write_str(" (no tier's settings)");
        }
        let parts: Vec<String> = self
            .per_role
            .iter()
            .map(|(role, tier)| format!("{role}: {}", tier.as_deref().unwrap_or(CUSTOM)))
            .collect();
        write!(f, " ({})", parts.join(", "))
    }
}

/// Total cpus and memory of a tier's limits and reservations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub limits: Allocation,
    pub reservations: Allocation,
}

/// A place in a tiers file: `FILE:LINE:COLUMN` (both counted from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub origin: String,
    pub line: u32,
    pub column: u32,
}

impl Location {
    /// The line and column of byte `offset` in `text`.
    pub fn locate(origin: &str, text: &str, offset: usize) -> Location {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let count = |n: usize| u32::try_from(n + 1).unwrap_or(u32::MAX);
        Location {
            origin: origin.to_string(),
            line: count(before.matches('\n').count()),
            column: count(before[line_start..].chars().count()),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.origin, self.line, self.column)
    }
}

/// Errors reading or using a tiers file.
#[derive(Debug, thiserror::Error)]
pub enum TiersError {
    #[error("unknown tier `{name}`")]
    UnknownTier { name: String, known: Vec<String> },
    #[error("cannot read tiers file `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{at}: invalid TOML: {message}")]
    Syntax { at: Box<Location>, message: String },
    #[error("{at}: the file defines no tiers")]
    NoTiers { at: Box<Location> },
    #[error("{at}: `{name}` cannot be a tier name")]
    BadTierName { at: Box<Location>, name: String },
    #[error("{at}: unknown key `{key}` {}", in_table(table))]
    UnknownKey {
        at: Box<Location>,
        key: String,
        table: String,
        allowed: &'static [&'static str],
    },
    #[error("{at}: unknown role `{role}` in tier `{tier}`")]
    UnknownRole {
        at: Box<Location>,
        tier: String,
        role: String,
    },
    #[error("{at}: tier `{tier}` has no `{role}` table")]
    MissingRole {
        at: Box<Location>,
        tier: String,
        role: Role,
    },
    #[error("{at}: `{table}` has no `{key}`")]
    MissingKey {
        at: Box<Location>,
        table: String,
        key: &'static str,
        example: &'static str,
    },
    #[error("{at}: `{key}` must be {expected}, not {found}")]
    WrongType {
        at: Box<Location>,
        key: String,
        expected: &'static str,
        found: &'static str,
        /// What to write instead: `memory = "8G"`, `[tiers.high.server]`.
        example: String,
    },
    #[error("{at}: `{key}` = `{text}` is not a valid {what}")]
    BadValue {
        at: Box<Location>,
        key: String,
        text: String,
        what: &'static str,
        expected: String,
    },
    #[error("{at}: `{key}` = `{reservation}` is above `{limit_key}` = `{limit}`")]
    ReservationAboveLimit {
        at: Box<Location>,
        key: String,
        reservation: String,
        limit_key: &'static str,
        limit: String,
    },
    #[error("{at}: `{key}` = `{value}` is not below the {role} container's memory limit `{limit}`")]
    AboveMemoryLimit {
        at: Box<Location>,
        key: String,
        value: String,
        role: Role,
        limit: String,
    },
}

fn in_table(table: &str) -> String {
    if table.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in `{table}`")
    }
}

fn backticked(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl TiersError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            TiersError::UnknownTier { known, .. } => {
                format!("the tiers are: {}", known.join(", "))
            }
            TiersError::Read { .. } => {
                "check the path given with `--tiers-file` (or `tiers_file` in xzup.toml)".into()
            }
            TiersError::Syntax { .. } => {
                "fix the TOML there; the format is described at the top of the built-in \
                 catalog, templates/tiers.toml"
                    .into()
            }
            TiersError::NoTiers { .. } => {
                "add a `[tiers.NAME]` table for each tier, in the format of templates/tiers.toml"
                    .into()
            }
            TiersError::BadTierName { name, .. } if name == CUSTOM => {
                "`custom` is what xzup calls a mix of tiers: pick another name".into()
            }
            TiersError::BadTierName { .. } => {
                "a tier name becomes part of docker-compose-NAME.yml: use letters, digits, \
                 `-` and `_`, starting with a letter or digit"
                    .into()
            }
            TiersError::UnknownKey { table, allowed, .. } => {
                let place = if table.is_empty() {
                    "at the top level".to_string()
                } else {
                    format!("in `{table}`")
                };
                format!("the keys allowed {place} are {}", backticked(allowed))
            }
            TiersError::UnknownRole { tier, role, .. } => format!(
                "a tier has one table per role: `server`, `web`, `db`, `redis`; rename or \
                 remove `[tiers.{tier}.{role}]`"
            ),
            TiersError::MissingRole { tier, role, .. } => format!(
                "add `[tiers.{tier}.{role}]` with `limits = {{ cpus = 4, memory = \"8G\" }}` \
                 and `reservations = {{ cpus = 2, memory = \"4G\" }}`: every tier sizes all \
                 four roles"
            ),
            TiersError::MissingKey {
                table,
                key,
                example,
                ..
            } => format!("add `{key} = {example}` to `{table}`"),
            TiersError::WrongType { example, .. } => format!("write it like `{example}`"),
            TiersError::BadValue { expected, .. } => expected.clone(),
            TiersError::ReservationAboveLimit { limit, .. } => format!(
                "a container cannot reserve more than its limit: lower the reservation to \
                 `{limit}` or less, or raise the limit"
            ),
            TiersError::AboveMemoryLimit { role, limit, .. } => match role {
                Role::Db => format!(
                    "mysqld needs memory beyond its buffer pool and is killed when the \
                     container runs out: keep `innodb_buffer_pool_size` well below `{limit}` \
                     (the plan uses a quarter to a half of it), or raise the db memory limit"
                ),
                _ => format!(
                    "Redis would be killed before it starts evicting keys: keep `maxmemory` \
                     well below `{limit}`, or raise the redis memory limit (Redis reads `m` \
                     as 1000000 bytes, `mb` as 1048576)"
                ),
            },
        })
    }
}

impl Catalog {
    /// The built-in catalog (`templates/tiers.toml`).
    pub fn embedded() -> Catalog {
        Catalog::parse(EMBEDDED, CatalogSource::Embedded)
            .expect("the built-in templates/tiers.toml is valid (a unit test parses it)")
    }

    /// A tiers file of the operator's.
    pub fn load(path: &Path) -> Result<Catalog, TiersError> {
        let text = std::fs::read_to_string(path).map_err(|source| TiersError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Catalog::parse(&text, CatalogSource::File(path.to_path_buf()))
    }

    /// Reads and validates the catalog in `text`; errors name `source`'s file and the line.
    pub fn parse(text: &str, source: CatalogSource) -> Result<Catalog, TiersError> {
        let reader = Reader {
            origin: source.origin(),
            text,
        };
        let tiers = reader.catalog()?;
        Ok(Catalog { source, tiers })
    }

    /// The tier called `name`, or an error listing the valid ones.
    pub fn get(&self, name: &str) -> Result<&Tier, TiersError> {
        self.tiers
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| TiersError::UnknownTier {
                name: name.to_string(),
                known: self.names(),
            })
    }

    /// Tier names, in file order.
    pub fn names(&self) -> Vec<String> {
        self.tiers.iter().map(|t| t.name.clone()).collect()
    }

    /// Which tier each of `roles` (all four when empty) matches in `observed`, and the
    /// tier they all match, or `custom`.
    ///
    /// A role matches a tier when the file sets exactly the tier's limits and reservations
    /// for it — and for db the tier's MySQL flags, for redis its `maxmemory` and policy
    /// (and `save` rules when the tier has them). Sizes compare by value: `1G` = `1024M`.
    pub fn classify(&self, observed: &Observed, roles: &[Role]) -> Classification {
        let roles: &[Role] = if roles.is_empty() { &Role::ALL } else { roles };
        // The first tier that every role matches wins, even if an earlier tier happens to
        // share one role's sizing (possible in an operator's own catalog).
        let whole = self
            .tiers
            .iter()
            .find(|t| roles.iter().all(|r| t.matches(*r, observed)));
        let per_role = roles
            .iter()
            .map(|role| {
                let tier = whole.or_else(|| self.tiers.iter().find(|t| t.matches(*role, observed)));
                (*role, tier.map(|t| t.name.clone()))
            })
            .collect();
        Classification {
            tier: whole.map_or_else(|| CUSTOM.to_string(), |t| t.name.clone()),
            per_role,
        }
    }
}

impl Tier {
    /// What the tier gives `role` (a catalog always sizes all four roles).
    pub fn resources(&self, role: Role) -> &Resources {
        &self.services[&role]
    }

    /// The render target for `only` (all roles when empty): their resources, the MySQL
    /// flags when db is among them, the Redis flags when redis is.
    pub fn target(&self, only: &[Role]) -> Target {
        let roles: &[Role] = if only.is_empty() { &Role::ALL } else { only };
        Target {
            resources: roles
                .iter()
                .map(|r| (*r, self.resources(*r).clone()))
                .collect(),
            mysql: roles.contains(&Role::Db).then(|| self.mysql.clone()),
            redis: roles.contains(&Role::Redis).then(|| self.redis.clone()),
        }
    }

    /// The sums of the four services' limits and of their reservations (the plan's 总计).
    pub fn totals(&self) -> Totals {
        let sum = |pick: fn(&Resources) -> &Allocation| {
            let cpus = self.services.values().map(|r| pick(r).cpus.0).sum();
            let bytes = self.services.values().map(|r| pick(r).memory.bytes).sum();
            Allocation {
                cpus: Cpus(cpus),
                memory: Memory::from_bytes(bytes),
            }
        };
        Totals {
            limits: sum(|r| &r.limits),
            reservations: sum(|r| &r.reservations),
        }
    }

    /// The largest cpus limit of any service. Docker refuses to create a container whose
    /// limit is above the host's core count, so the host needs at least this many cores.
    pub fn max_cpus(&self) -> Cpus {
        self.services
            .values()
            .map(|r| r.limits.cpus)
            .max()
            .unwrap_or(Cpus(0))
    }

    /// Whether `observed` gives `role` exactly what this tier does.
    pub fn matches(&self, role: Role, observed: &Observed) -> bool {
        let Some(found) = observed.services.get(&role) else {
            return false;
        };
        let want = self.resources(role);
        let resources_match = found.limit_cpus == Some(want.limits.cpus)
            && found.limit_memory.as_ref() == Some(&want.limits.memory)
            && found.reserve_cpus == Some(want.reservations.cpus)
            && found.reserve_memory.as_ref() == Some(&want.reservations.memory);
        resources_match
            && match role {
                Role::Db => self.mysql.matches(&observed.mysql),
                Role::Redis => self.redis.matches(&observed.redis),
                Role::Server | Role::Web => true,
            }
    }
}

impl MysqlSettings {
    fn matches(&self, found: &ObservedMysql) -> bool {
        found.max_connections == Some(self.max_connections)
            && found.innodb_buffer_pool_size.as_ref() == Some(&self.innodb_buffer_pool_size)
            && found.innodb_log_file_size.as_ref() == Some(&self.innodb_log_file_size)
    }
}

impl RedisSettings {
    fn matches(&self, found: &ObservedRedis) -> bool {
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

// ---------------------------------------------------------------------------------------
// Reading a tiers file.

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

type Value<'i> = Spanned<DeValue<'i>>;
type Key<'i> = Spanned<std::borrow::Cow<'i, str>>;

/// Walks a parsed tiers file, turning each value into its type or an error at its place.
struct Reader<'t> {
    origin: String,
    text: &'t str,
}

impl<'t> Reader<'t> {
    /// Boxed: errors carry it, and a small error type keeps every `Result` small.
    fn at(&self, span: Range<usize>) -> Box<Location> {
        Box::new(Location::locate(&self.origin, self.text, span.start))
    }

    fn catalog(&self) -> Result<Vec<Tier>, TiersError> {
        let doc = DeTable::parse(self.text).map_err(|e| TiersError::Syntax {
            at: self.at(e.span().unwrap_or(0..0)),
            message: e.message().trim().to_string(),
        })?;
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

    // -- typed values ---------------------------------------------------------------------

    fn check_keys(
        &self,
        table: &DeTable<'_>,
        path: &str,
        allowed: &'static [&'static str],
    ) -> Result<(), TiersError> {
        match sorted(table)
            .into_iter()
            .find(|(k, _)| !allowed.contains(&k.get_ref().as_ref()))
        {
            Some((k, _)) => Err(self.unknown_key(k, path, allowed)),
            None => Ok(()),
        }
    }

    fn unknown_key(
        &self,
        key: &Key<'_>,
        path: &str,
        allowed: &'static [&'static str],
    ) -> TiersError {
        TiersError::UnknownKey {
            at: self.at(key.span()),
            key: key.get_ref().to_string(),
            table: path.to_string(),
            allowed,
        }
    }

    /// `key` in `table`, or an error at the key that names the table.
    fn require<'a, 'i>(
        &self,
        table: &'a DeTable<'i>,
        key: &'static str,
        table_key: &Key<'_>,
        path: &str,
        example: &'static str,
    ) -> Result<(&'a Key<'i>, &'a Value<'i>), TiersError> {
        table
            .get_key_value(key)
            .ok_or_else(|| TiersError::MissingKey {
                at: self.at(table_key.span()),
                table: path.to_string(),
                key,
                example,
            })
    }

    /// `example` is a value (`"8G"`, written as `memory = "8G"` in the hint) or a table
    /// header (`[tiers.high]`, written as is).
    fn wrong_type(
        &self,
        value: &Value<'_>,
        key: &str,
        expected: &'static str,
        example: &str,
    ) -> TiersError {
        let example = if example.starts_with('[') && !example.starts_with("[\"") {
            example.to_string()
        } else {
            format!("{} = {example}", key.rsplit('.').next().unwrap_or(key))
        };
        TiersError::WrongType {
            at: self.at(value.span()),
            key: key.to_string(),
            expected,
            found: article(value.get_ref().type_str()),
            example,
        }
    }

    fn table<'a, 'i>(
        &self,
        value: &'a Value<'i>,
        key: &str,
        example: &str,
    ) -> Result<&'a DeTable<'i>, TiersError> {
        match value.get_ref() {
            DeValue::Table(table) => Ok(table),
            _ => Err(self.wrong_type(value, key, "a table", example)),
        }
    }

    fn string<'a>(
        &self,
        value: &'a Value<'_>,
        key: &str,
        example: &'static str,
    ) -> Result<&'a str, TiersError> {
        match value.get_ref() {
            DeValue::String(s) => Ok(s.as_ref()),
            _ => Err(self.wrong_type(value, key, "a string", example)),
        }
    }

    fn optional_string(
        &self,
        table: &DeTable<'_>,
        key: &str,
        path: &str,
        example: &'static str,
    ) -> Result<Option<String>, TiersError> {
        table
            .get(key)
            .map(|v| {
                self.string(v, &format!("{path}.{key}"), example)
                    .map(str::to_string)
            })
            .transpose()
    }

    fn integer(
        &self,
        value: &Value<'_>,
        key: &str,
        example: &'static str,
    ) -> Result<i64, TiersError> {
        let DeValue::Integer(int) = value.get_ref() else {
            return Err(self.wrong_type(value, key, "a whole number", example));
        };
        i64::from_str_radix(int.as_str(), int.radix()).map_err(|_| TiersError::BadValue {
            at: self.at(value.span()),
            key: key.to_string(),
            text: int.to_string(),
            what: "number",
            expected: "write a smaller whole number".into(),
        })
    }

    /// A cpus value: `4`, `0.5` or `"4"` (as Compose files quote it).
    fn cpus(&self, value: &Value<'_>, key: &str) -> Result<Spanned<Cpus>, TiersError> {
        let text = match value.get_ref() {
            DeValue::Integer(int) => i64::from_str_radix(int.as_str(), int.radix())
                .map_or_else(|_| int.to_string(), |n| n.to_string()),
            DeValue::Float(float) => float.as_str().to_string(),
            DeValue::String(s) => s.to_string(),
            _ => return Err(self.wrong_type(value, key, "a number of cores", "4")),
        };
        let cpus = Cpus::parse(&text).map_err(|e| self.bad_unit(value, key, e))?;
        Ok(Spanned::new(value.span(), cpus))
    }

    /// A size in quotes, read with `parse` (Compose, MySQL or Redis rules); never zero.
    fn size(
        &self,
        value: &Value<'_>,
        key: &str,
        example: &'static str,
        parse: fn(&str) -> Result<Memory, UnitError>,
    ) -> Result<Spanned<Memory>, TiersError> {
        let text = self.string(value, key, example)?;
        let memory = parse(text).map_err(|e| self.bad_unit(value, key, e))?;
        if memory.bytes == 0 {
            return Err(TiersError::BadValue {
                at: self.at(value.span()),
                key: key.to_string(),
                text: text.to_string(),
                what: "size",
                expected: format!("write a size above zero, like {example}"),
            });
        }
        Ok(Spanned::new(value.span(), memory))
    }

    fn bad_unit(&self, value: &Value<'_>, key: &str, error: UnitError) -> TiersError {
        TiersError::BadValue {
            at: self.at(value.span()),
            key: key.to_string(),
            text: error.text,
            what: error.what,
            expected: error.expected.to_string(),
        }
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

/// A table's entries in file order (the map itself is sorted by key).
fn sorted<'a, 'i>(table: &'a DeTable<'i>) -> Vec<(&'a Key<'i>, &'a Value<'i>)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

fn article(type_name: &'static str) -> &'static str {
    match type_name {
        "string" => "a string",
        "integer" => "an integer",
        "float" => "a float",
        "boolean" => "a boolean",
        "datetime" => "a datetime",
        "array" => "an array",
        "table" => "a table",
        other => other,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::ObservedResources;

    /// A small valid catalog; the tests break one thing in it at a time. Line numbers in
    /// the expected messages refer to this text.
    const SMALL: &str = r#"[tiers.small]
label = "test"
users = "1-2"
host = { cpus = 4, memory = "8G" }

[tiers.small.server]
limits = { cpus = 2, memory = "2G" }
reservations = { cpus = 1, memory = "1G" }

[tiers.small.web]
limits = { cpus = 1, memory = "1G" }
reservations = { cpus = 0.5, memory = "512M" }

[tiers.small.db]
limits = { cpus = 1, memory = "1G" }
reservations = { cpus = 0.5, memory = "512M" }
max_connections = 100
innodb_buffer_pool_size = "256M"
innodb_log_file_size = "64M"

[tiers.small.redis]
limits = { cpus = 1, memory = "512M" }
reservations = { cpus = 0.5, memory = "256M" }
maxmemory = "256mb"
maxmemory-policy = "allkeys-lru"
"#;

    fn parse(text: &str) -> Result<Catalog, TiersError> {
        Catalog::parse(text, CatalogSource::File(PathBuf::from("t.toml")))
    }

    /// `SMALL` with `from` replaced by `to`.
    fn small_with(from: &str, to: &str) -> String {
        assert!(SMALL.contains(from), "`{from}` is not in the test catalog");
        SMALL.replacen(from, to, 1)
    }

    /// The error message and hint for `text`.
    fn error(text: &str) -> (String, String) {
        let err = parse(text).expect_err("the catalog is rejected");
        (err.to_string(), err.hint().unwrap_or_default())
    }

    #[test]
    fn small_catalog_is_valid() {
        let catalog = parse(SMALL).unwrap();
        assert_eq!(catalog.names(), vec!["small"]);
        let tier = &catalog.tiers[0];
        assert_eq!(tier.info.label, "test");
        assert_eq!(tier.info.host_cpus, 4);
        assert_eq!(tier.resources(Role::Web).reservations.cpus, Cpus(500));
        assert_eq!(tier.redis.save, None);
    }

    #[test]
    fn zero_cpus() {
        let text = small_with(
            r#"limits = { cpus = 2, memory = "2G" }"#,
            r#"limits = { cpus = 0, memory = "2G" }"#,
        );
        assert_eq!(
            error(&text),
            (
                "t.toml:7:19: `tiers.small.server.limits.cpus` = `0` is not a valid CPU count"
                    .into(),
                "write a positive number of cores, like `4` or `0.5`".into()
            )
        );
    }

    #[test]
    fn negative_cpus() {
        let text = small_with(
            r#"reservations = { cpus = 1, memory = "1G" }"#,
            r#"reservations = { cpus = -1.5, memory = "1G" }"#,
        );
        assert_eq!(
            error(&text).0,
            "t.toml:8:25: `tiers.small.server.reservations.cpus` = `-1.5` is not a valid CPU \
             count"
        );
    }

    #[test]
    fn cpus_may_be_quoted_as_in_compose() {
        let text = small_with(
            r#"limits = { cpus = 2, memory = "2G" }"#,
            r#"limits = { cpus = "2", memory = "2G" }"#,
        );
        let catalog = parse(&text).unwrap();
        assert_eq!(catalog.tiers[0].max_cpus(), Cpus(2000));
    }

    #[test]
    fn memory_with_unknown_unit() {
        let text = small_with(
            r#"limits = { cpus = 2, memory = "2G" }"#,
            r#"limits = { cpus = 2, memory = "16X" }"#,
        );
        assert_eq!(
            error(&text),
            (
                "t.toml:7:31: `tiers.small.server.limits.memory` = `16X` is not a valid memory \
                 size"
                    .into(),
                "write a number with a unit, like `512M` or `16G`".into()
            )
        );
    }

    #[test]
    fn memory_as_a_bare_number() {
        let text = small_with(
            r#"limits = { cpus = 1, memory = "1G" }"#,
            r#"limits = { cpus = 1, memory = 1 }"#,
        );
        assert_eq!(
            error(&text),
            (
                "t.toml:11:31: `tiers.small.web.limits.memory` must be a string, not an integer"
                    .into(),
                "write it like `memory = \"8G\"`".into()
            )
        );
    }

    #[test]
    fn reservation_cpus_above_limit() {
        let text = small_with(
            r#"reservations = { cpus = 1, memory = "1G" }"#,
            r#"reservations = { cpus = 3, memory = "1G" }"#,
        );
        assert_eq!(
            error(&text),
            (
                "t.toml:8:25: `tiers.small.server.reservations.cpus` = `3` is above \
                 `limits.cpus` = `2`"
                    .into(),
                "a container cannot reserve more than its limit: lower the reservation to `2` \
                 or less, or raise the limit"
                    .into()
            )
        );
    }

    #[test]
    fn reservation_memory_above_limit() {
        let text = small_with(
            r#"reservations = { cpus = 1, memory = "1G" }"#,
            r#"reservations = { cpus = 1, memory = "2049M" }"#,
        );
        assert_eq!(
            error(&text).0,
            "t.toml:8:37: `tiers.small.server.reservations.memory` = `2049M` is above \
             `limits.memory` = `2G`"
        );
    }

    #[test]
    fn reservation_equal_to_limit_is_fine() {
        let text = small_with(
            r#"reservations = { cpus = 1, memory = "1G" }"#,
            r#"reservations = { cpus = 2, memory = "2048M" }"#,
        );
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn buffer_pool_above_db_memory() {
        let text = small_with(
            r#"innodb_buffer_pool_size = "256M""#,
            r#"innodb_buffer_pool_size = "2G""#,
        );
        let (message, hint) = error(&text);
        assert_eq!(
            message,
            "t.toml:18:27: `tiers.small.db.innodb_buffer_pool_size` = `2G` is not below the db \
             container's memory limit `1G`"
        );
        assert!(
            hint.starts_with("mysqld needs memory beyond its buffer pool"),
            "{hint}"
        );
    }

    #[test]
    fn buffer_pool_is_read_the_mysql_way() {
        // MySQL takes no fractions; `0.5G` would be rejected by mysqld at start.
        let text = small_with(
            r#"innodb_buffer_pool_size = "256M""#,
            r#"innodb_buffer_pool_size = "0.5G""#,
        );
        assert_eq!(
            error(&text),
            (
                "t.toml:18:27: `tiers.small.db.innodb_buffer_pool_size` = `0.5G` is not a valid \
                 MySQL size"
                    .into(),
                "write a whole number with K, M or G, like `2G`".into()
            )
        );
    }

    #[test]
    fn maxmemory_above_redis_memory() {
        let text = small_with(r#"maxmemory = "256mb""#, r#"maxmemory = "1gb""#);
        let (message, hint) = error(&text);
        assert_eq!(
            message,
            "t.toml:24:13: `tiers.small.redis.maxmemory` = `1gb` is not below the redis \
             container's memory limit `512M`"
        );
        assert!(hint.contains("Redis reads `m` as 1000000 bytes"), "{hint}");
    }

    #[test]
    fn maxmemory_m_is_decimal() {
        // 536m = 536,000,000 bytes, under the 512M (536,870,912) limit; 537m is over it.
        let under = small_with(r#"maxmemory = "256mb""#, r#"maxmemory = "536m""#);
        assert!(parse(&under).is_ok());
        let over = small_with(r#"maxmemory = "256mb""#, r#"maxmemory = "537m""#);
        assert_eq!(
            error(&over).0,
            "t.toml:24:13: `tiers.small.redis.maxmemory` = `537m` is not below the redis \
             container's memory limit `512M`"
        );
    }

    #[test]
    fn unknown_role() {
        let text =
            format!("{SMALL}\n[tiers.small.gpu]\nlimits = {{ cpus = 1, memory = \"1G\" }}\n");
        assert_eq!(
            error(&text),
            (
                "t.toml:27:14: unknown role `gpu` in tier `small`".into(),
                "a tier has one table per role: `server`, `web`, `db`, `redis`; rename or \
                 remove `[tiers.small.gpu]`"
                    .into()
            )
        );
    }

    #[test]
    fn missing_role() {
        let text = small_with(
            "[tiers.small.web]\nlimits = { cpus = 1, memory = \"1G\" }\nreservations = { cpus \
             = 0.5, memory = \"512M\" }\n",
            "",
        );
        assert_eq!(
            error(&text),
            (
                "t.toml:1:8: tier `small` has no `web` table".into(),
                "add `[tiers.small.web]` with `limits = { cpus = 4, memory = \"8G\" }` and \
                 `reservations = { cpus = 2, memory = \"4G\" }`: every tier sizes all four roles"
                    .into()
            )
        );
    }

    #[test]
    fn unknown_key() {
        let text = small_with("max_connections = 100", "max_conections = 100");
        assert_eq!(
            error(&text),
            (
                "t.toml:17:1: unknown key `max_conections` in `tiers.small.db`".into(),
                "the keys allowed in `tiers.small.db` are `limits`, `reservations`, \
                 `max_connections`, `innodb_buffer_pool_size`, `innodb_log_file_size`"
                    .into()
            )
        );
    }

    #[test]
    fn redis_setting_on_the_wrong_role() {
        let text = small_with(
            "reservations = { cpus = 1, memory = \"1G\" }\n",
            "reservations = { cpus = 1, memory = \"1G\" }\nmaxmemory = \"1gb\"\n",
        );
        assert_eq!(
            error(&text).0,
            "t.toml:9:1: unknown key `maxmemory` in `tiers.small.server`"
        );
    }

    #[test]
    fn unknown_key_in_an_allocation() {
        let text = small_with(
            r#"limits = { cpus = 2, memory = "2G" }"#,
            r#"limits = { cpus = 2, memory = "2G", swap = "1G" }"#,
        );
        assert_eq!(
            error(&text).0,
            "t.toml:7:37: unknown key `swap` in `tiers.small.server.limits`"
        );
    }

    #[test]
    fn unknown_top_level_key() {
        let (message, hint) = error("[tier.small]\nlabel = \"x\"\n");
        assert_eq!(message, "t.toml:1:2: unknown key `tier` at the top level");
        assert_eq!(hint, "the keys allowed at the top level are `tiers`");
    }

    #[test]
    fn missing_key() {
        let text = small_with("reservations = { cpus = 0.5, memory = \"256M\" }\n", "");
        assert_eq!(
            error(&text),
            (
                "t.toml:21:14: `tiers.small.redis` has no `reservations`".into(),
                "add `reservations = { cpus = 4, memory = \"8G\" }` to `tiers.small.redis`".into()
            )
        );
    }

    #[test]
    fn missing_key_in_an_inline_table() {
        let text = small_with(
            r#"limits = { cpus = 1, memory = "512M" }"#,
            r#"limits = { cpus = 1 }"#,
        );
        assert_eq!(
            error(&text),
            (
                "t.toml:22:1: `tiers.small.redis.limits` has no `memory`".into(),
                "add `memory = \"8G\"` to `tiers.small.redis.limits`".into()
            )
        );
    }

    #[test]
    fn bad_toml() {
        let text = small_with(r#"users = "1-2""#, r#"users = "1-2"#);
        assert_eq!(
            error(&text),
            (
                "t.toml:3:13: invalid TOML: invalid basic string, expected `\"`".into(),
                "fix the TOML there; the format is described at the top of the built-in \
                 catalog, templates/tiers.toml"
                    .into()
            )
        );
    }

    #[test]
    fn no_tiers() {
        assert_eq!(error("").0, "t.toml:1:1: the file defines no tiers");
        assert_eq!(
            error("\n\n[tiers]\n").0,
            "t.toml:3:2: the file defines no tiers"
        );
    }

    #[test]
    fn tier_names() {
        let text = small_with("[tiers.small]", "[tiers.custom]").replace("small", "custom");
        assert_eq!(
            error(&text),
            (
                "t.toml:1:8: `custom` cannot be a tier name".into(),
                "`custom` is what xzup calls a mix of tiers: pick another name".into()
            )
        );
        let text = SMALL.replace("tiers.small", "tiers.\"big one\"");
        assert_eq!(
            error(&text).0,
            "t.toml:1:8: `big one` cannot be a tier name"
        );
    }

    #[test]
    fn redis_policy_and_save_rules() {
        let text = small_with(r#""allkeys-lru""#, r#""allkeys-lr""#);
        assert_eq!(
            error(&text).0,
            "t.toml:25:20: `tiers.small.redis.maxmemory-policy` = `allkeys-lr` is not a valid \
             Redis maxmemory-policy"
        );
        let text = format!("{SMALL}save = [\"900  1\", \"300 10\"]\n");
        let catalog = parse(&text).unwrap();
        assert_eq!(
            catalog.tiers[0].redis.save,
            Some(vec!["900 1".to_string(), "300 10".to_string()])
        );
        let text = format!("{SMALL}save = [\"900 1\", \"300\"]\n");
        assert_eq!(
            error(&text).0,
            "t.toml:26:18: `tiers.small.redis.save` = `300` is not a valid Redis save rule"
        );
        let text = format!("{SMALL}save = []\n");
        assert_eq!(
            error(&text).0,
            "t.toml:26:8: `tiers.small.redis.save` = `[]` is not a valid Redis save rule"
        );
    }

    #[test]
    fn max_connections_in_mysql_range() {
        let text = small_with("max_connections = 100", "max_connections = 0");
        assert_eq!(
            error(&text),
            (
                "t.toml:17:19: `tiers.small.db.max_connections` = `0` is not a valid \
                 max_connections"
                    .into(),
                "write a whole number from 1 to 100000 (MySQL's range)".into()
            )
        );
    }

    #[test]
    fn host_defaults_to_the_totals() {
        let text = small_with("host = { cpus = 4, memory = \"8G\" }\n", "");
        let tier = &parse(&text).unwrap().tiers[0];
        // limits: 2 + 1 + 1 + 1 = 5 cores, 2G + 1G + 1G + 512M = 4.5G
        assert_eq!(tier.info.host_cpus, 5);
        assert_eq!(tier.info.host_memory.to_string(), "4.5G");
        let text = small_with("host = { cpus = 4,", "host = { cpus = 0,");
        assert_eq!(
            error(&text).0,
            "t.toml:4:17: `tiers.small.host.cpus` = `0` is not a valid core count"
        );
    }

    #[test]
    fn locations_count_characters() {
        let text = "a\n低配 = x\n";
        let at = Location::locate("f", text, text.find('x').unwrap());
        assert_eq!((at.line, at.column), (2, 6));
    }

    #[test]
    fn loading_a_missing_file_says_so() {
        let err = Catalog::load(Path::new("/nonexistent/tiers.toml")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read tiers file `/nonexistent/tiers.toml`: "),
            "{err}"
        );
    }

    // -- the built-in catalog --------------------------------------------------------------

    /// `server 4/8G 2/4G` — one role's limits and reservations.
    fn sizes(tier: &Tier, role: Role) -> String {
        let r = tier.resources(role);
        format!(
            "{role} {}/{} {}/{}",
            r.limits.cpus, r.limits.memory, r.reservations.cpus, r.reservations.memory
        )
    }

    /// Every number of a tier on one line, to compare with the plan's tables.
    fn summary(tier: &Tier) -> String {
        let mut parts = vec![format!(
            "{} ({}, {} users, host {}/{})",
            tier.name, tier.info.label, tier.info.users, tier.info.host_cpus, tier.info.host_memory
        )];
        parts.extend(
            [Role::Server, Role::Web, Role::Db, Role::Redis]
                .iter()
                .map(|r| sizes(tier, *r)),
        );
        parts.push(format!(
            "mysql {} {} {}",
            tier.mysql.max_connections,
            tier.mysql.innodb_buffer_pool_size,
            tier.mysql.innodb_log_file_size
        ));
        parts.push(format!(
            "redis {} {} save={}",
            tier.redis.maxmemory,
            tier.redis.maxmemory_policy,
            tier.redis
                .save
                .as_ref()
                .map_or("-".to_string(), |s| s.join("/"))
        ));
        parts.join(" | ")
    }

    #[test]
    fn embedded_catalog_has_the_plans_numbers_in_order() {
        let catalog = Catalog::embedded();
        assert_eq!(catalog.source, CatalogSource::Embedded);
        let lines: Vec<String> = catalog.tiers.iter().map(summary).collect();
        assert_eq!(
            lines,
            vec![
                "low (current, 5-10 users, host 16/32G) | server 4/8G 2/4G | web 2/4G 1/2G | \
                 db 2/2G 1/1G | redis 1/1G 0.5/512M | mysql 1000 512M 128M | \
                 redis 512mb allkeys-lru save=-",
                "high (plan A, 10-20 users, host 18/32G) | server 8/16G 4/8G | web 4/8G 2/4G | \
                 db 4/4G 2/2G | redis 2/2G 1/1G | mysql 2000 2G 256M | \
                 redis 1536mb allkeys-lru save=900 1/300 10/60 10000",
                "ultra (plan B, 20-50 users, host 32/64G) | server 16/32G 8/16G | \
                 web 6/12G 3/6G | db 6/8G 3/4G | redis 4/4G 2/2G | mysql 2000 4G 256M | \
                 redis 3072mb allkeys-lru save=900 1/300 10/60 10000",
                "extreme (plan C, 50-100 users, host 44/104G) | server 24/64G 12/32G | \
                 web 8/16G 4/8G | db 8/16G 4/8G | redis 4/8G 2/4G | mysql 2000 8G 256M | \
                 redis 6144mb allkeys-lru save=900 1/300 10/60 10000",
            ]
        );
        // Redis `mb` is binary: 1536mb is the plan's 1.5GB.
        assert_eq!(
            catalog.get("high").unwrap().redis.maxmemory.bytes,
            1536 << 20
        );
    }

    #[test]
    fn totals_match_the_plans_rows() {
        // The plan's 总计 rows: limits, then reservations.
        let expected = [
            ("low", "9 / 15G", "4.5 / 7.5G"),
            ("high", "18 / 30G", "9 / 15G"),
            ("ultra", "32 / 56G", "16 / 28G"),
            ("extreme", "44 / 104G", "22 / 52G"),
        ];
        let catalog = Catalog::embedded();
        for (name, limits, reservations) in expected {
            let totals = catalog.get(name).unwrap().totals();
            let show = |a: &Allocation| format!("{} / {}", a.cpus, a.memory);
            assert_eq!(
                (show(&totals.limits), show(&totals.reservations)),
                (limits.to_string(), reservations.to_string()),
                "{name}"
            );
        }
    }

    #[test]
    fn max_cpus_is_the_largest_limit() {
        let catalog = Catalog::embedded();
        let max: Vec<String> = catalog
            .tiers
            .iter()
            .map(|t| t.max_cpus().to_string())
            .collect();
        assert_eq!(max, vec!["4", "8", "16", "24"]);
    }

    #[test]
    fn unknown_tier_lists_the_valid_ones() {
        let err = Catalog::embedded().get("huge").unwrap_err();
        assert_eq!(err.to_string(), "unknown tier `huge`");
        assert_eq!(
            err.hint().unwrap(),
            "the tiers are: low, high, ultra, extreme"
        );
    }

    // -- classification and targets ---------------------------------------------------------

    /// What a compose file sized exactly like `tier` shows, with `save` rules as written.
    fn observed(tier: &Tier, save: &[&str]) -> Observed {
        let services = Role::ALL
            .iter()
            .map(|role| {
                let r = tier.resources(*role);
                let found = ObservedResources {
                    limit_cpus: Some(r.limits.cpus),
                    limit_memory: Some(r.limits.memory.clone()),
                    reserve_cpus: Some(r.reservations.cpus),
                    reserve_memory: Some(r.reservations.memory.clone()),
                };
                (*role, found)
            })
            .collect();
        Observed {
            services,
            mysql: ObservedMysql {
                max_connections: Some(tier.mysql.max_connections),
                innodb_buffer_pool_size: Some(tier.mysql.innodb_buffer_pool_size.clone()),
                innodb_log_file_size: Some(tier.mysql.innodb_log_file_size.clone()),
            },
            redis: ObservedRedis {
                maxmemory: Some(tier.redis.maxmemory.clone()),
                maxmemory_policy: Some(tier.redis.maxmemory_policy.clone()),
                save: save.iter().map(|s| s.to_string()).collect(),
            },
        }
    }

    const PLAN_SAVE: [&str; 3] = ["900 1", "300 10", "60 10000"];

    #[test]
    fn a_file_on_one_tier_is_that_tier() {
        let catalog = Catalog::embedded();
        for tier in &catalog.tiers {
            let found = catalog.classify(&observed(tier, &PLAN_SAVE), &[]);
            assert_eq!(found.tier, tier.name);
            assert!(
                found
                    .per_role
                    .values()
                    .all(|t| t.as_deref() == Some(&*tier.name))
            );
            assert_eq!(found.to_string(), tier.name);
        }
    }

    #[test]
    fn low_keeps_whatever_save_rules_the_file_has() {
        // The low tier sets no `save`, so the offline file's rules (or none) still match it.
        let catalog = Catalog::embedded();
        let low = catalog.get("low").unwrap();
        assert_eq!(catalog.classify(&observed(low, &[]), &[]).tier, "low");
        assert_eq!(
            catalog.classify(&observed(low, &PLAN_SAVE), &[]).tier,
            "low"
        );
    }

    #[test]
    fn high_needs_its_save_rules() {
        let catalog = Catalog::embedded();
        let high = catalog.get("high").unwrap();
        let found = catalog.classify(&observed(high, &["900 1"]), &[]);
        assert_eq!(
            found.to_string(),
            "custom (server: high, db: high, redis: custom, web: high)"
        );
        // One item holding all the rules sets the same rules.
        let found = catalog.classify(&observed(high, &["900 1 300 10 60 10000"]), &[]);
        assert_eq!(found.tier, "high");
    }

    #[test]
    fn a_partial_upgrade_is_custom_with_each_roles_tier() {
        let catalog = Catalog::embedded();
        let mut mix = observed(catalog.get("low").unwrap(), &PLAN_SAVE);
        let ultra = observed(catalog.get("ultra").unwrap(), &PLAN_SAVE);
        mix.services
            .insert(Role::Server, ultra.services[&Role::Server].clone());
        let found = catalog.classify(&mix, &[]);
        assert!(found.is_custom());
        assert_eq!(
            found.to_string(),
            "custom (server: ultra, db: low, redis: low, web: low)"
        );
        // Asked about the roles that were not upgraded only, the file is on `low`.
        let found = catalog.classify(&mix, &[Role::Db, Role::Redis, Role::Web]);
        assert_eq!(found.tier, "low");
        assert_eq!(found.per_role.len(), 3);
    }

    #[test]
    fn mysql_flags_decide_the_db_role() {
        let catalog = Catalog::embedded();
        let mut found = observed(catalog.get("high").unwrap(), &PLAN_SAVE);
        found.mysql.innodb_buffer_pool_size = Some(Memory::parse_mysql("512M").unwrap());
        let found = catalog.classify(&found, &[]);
        assert_eq!(found.per_role[&Role::Db], None);
        assert_eq!(found.per_role[&Role::Server].as_deref(), Some("high"));
    }

    #[test]
    fn sizes_compare_by_value() {
        let catalog = Catalog::embedded();
        let mut found = observed(catalog.get("low").unwrap(), &[]);
        let server = found.services.get_mut(&Role::Server).unwrap();
        server.limit_memory = Some(Memory::parse_compose("8192M").unwrap());
        found.redis.maxmemory = Some(Memory::parse_redis("536870912").unwrap());
        found.redis.maxmemory_policy = Some("ALLKEYS-LRU".into());
        assert_eq!(catalog.classify(&found, &[]).tier, "low");
    }

    #[test]
    fn a_file_without_resources_matches_nothing() {
        let catalog = Catalog::embedded();
        let bare = Observed {
            services: Role::ALL
                .iter()
                .map(|r| (*r, ObservedResources::default()))
                .collect(),
            mysql: ObservedMysql::default(),
            redis: ObservedRedis::default(),
        };
        let found = catalog.classify(&bare, &[]);
        assert_eq!(found.to_string(), "custom (no tier's settings)");
        assert!(found.per_role.values().all(Option::is_none));
    }

    #[test]
    fn target_covers_the_roles_asked_for() {
        let catalog = Catalog::embedded();
        let ultra = catalog.get("ultra").unwrap();

        let all = ultra.target(&[]);
        assert_eq!(all.resources.keys().copied().collect::<Vec<_>>(), Role::ALL);
        assert_eq!(all.mysql.as_ref(), Some(&ultra.mysql));
        assert_eq!(all.redis.as_ref(), Some(&ultra.redis));
        assert_eq!(all, ultra.target(&Role::ALL));

        let some = ultra.target(&[Role::Server, Role::Db]);
        assert_eq!(
            some.resources.keys().copied().collect::<Vec<_>>(),
            vec![Role::Server, Role::Db]
        );
        assert_eq!(
            some.resources[&Role::Server],
            *ultra.resources(Role::Server)
        );
        assert_eq!(some.mysql.as_ref(), Some(&ultra.mysql));
        assert_eq!(some.redis, None);

        let web = ultra.target(&[Role::Web]);
        assert_eq!((web.mysql, web.redis), (None, None));
    }
}
