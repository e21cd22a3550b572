//! The tier catalog: the plan's four resource tiers (or an operator's own), loaded from
//! `templates/tiers.toml` (embedded) or `--tiers-file`, validated, and looked up by name.
//!
//! The catalog answers the two questions other modules ask of tiers: which tier does a
//! compose file's current sizing match ([`Catalog::classify`]), and what should be written
//! for a tier ([`Tier::target`]). The values a tier sets are the shared types of
//! [`crate::settings`].
//!
//! Parts: [`format`] reads a tiers file — its tables, keys and the rule each value must
//! meet — through [`reader`], a span-carrying TOML reader, so that every mistake is
//! reported at its own `FILE:LINE:COLUMN` ([`error`]). Only `format` uses `reader`.

mod error;
mod format;
mod reader;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::roles::Role;
use crate::settings::{Allocation, MysqlSettings, Observed, RedisSettings, Resources, Target};
use crate::units::{Cpus, Memory};

pub use error::{Location, TiersError};

/// The built-in catalog.
const EMBEDDED: &str = include_str!("../../templates/tiers.toml");

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
        let tiers = format::read(source.origin(), text)?;
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

    /// Which tier each of `roles` (when empty: each role `observed` has, those in the
    /// deployment) matches in `observed`, and the tier they all match, or `custom`.
    ///
    /// A role matches a tier when the file sets exactly the tier's limits and reservations
    /// for it — and for db the tier's MySQL flags, for redis its `maxmemory` and policy
    /// (and `save` rules when the tier has them). Sizes compare by value: `1G` = `1024M`.
    pub fn classify(&self, observed: &Observed, roles: &[Role]) -> Classification {
        let found: Vec<Role> = observed.services.keys().copied().collect();
        let roles: &[Role] = if roles.is_empty() { &found } else { roles };
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
        self.resources(role).matches(found)
            && match role {
                Role::Db => self.mysql.matches(&observed.mysql),
                Role::Redis => self.redis.matches(&observed.redis),
                Role::Server | Role::Web => true,
            }
    }
}

#[cfg(test)]
mod tests;
