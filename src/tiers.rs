//! The tier catalog: the plan's four resource tiers (or an operator's own), loaded from
//! `templates/tiers.toml` (embedded) or `--tiers-file`, validated, and looked up by name.
//!
//! STUB: the types below are the contract other modules build on; loading and
//! validation are being written.

use std::collections::BTreeMap;
use std::path::PathBuf;

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

/// The host the plan says to ask for, and who the tier is for (display only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierInfo {
    /// e.g. "plan A"
    pub label: String,
    /// Concurrent users it is meant for, e.g. "10-20".
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

/// The tiers an operator can choose from.
#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    pub source: CatalogSource,
    pub tiers: Vec<Tier>,
}

/// Errors reading or using a tiers file.
#[derive(Debug, thiserror::Error)]
pub enum TiersError {
    #[error("unknown tier `{name}`")]
    UnknownTier { name: String, known: Vec<String> },
}

impl TiersError {
    pub fn hint(&self) -> Option<String> {
        match self {
            TiersError::UnknownTier { known, .. } => {
                Some(format!("the tiers are: {}", known.join(", ")))
            }
        }
    }
}

impl Catalog {
    /// The built-in catalog (`templates/tiers.toml`).
    pub fn embedded() -> Catalog {
        todo!()
    }

    /// A tiers file of the operator's.
    pub fn load(path: &std::path::Path) -> Result<Catalog, TiersError> {
        let _ = path;
        todo!()
    }

    /// The tier called `name`, or an error listing the valid ones.
    pub fn get(&self, name: &str) -> Result<&Tier, TiersError> {
        self.tiers
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| TiersError::UnknownTier {
                name: name.to_string(),
                known: self.tiers.iter().map(|t| t.name.clone()).collect(),
            })
    }
}

// STUB (being written): classification and targets.

/// Which tier a file's settings match: a tier name, or `custom` with each role's tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub tier: String,
    pub per_role: BTreeMap<Role, Option<String>>,
}

/// Total cpus and memory of a tier's limits and reservations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub limits: Allocation,
    pub reservations: Allocation,
}

impl Catalog {
    pub fn classify(&self, observed: &crate::compose::Observed, roles: &[Role]) -> Classification {
        let _ = (observed, roles);
        todo!()
    }
}

impl Tier {
    pub fn target(&self, only: &[Role]) -> crate::compose::Target {
        let _ = only;
        todo!()
    }
    pub fn totals(&self) -> Totals {
        todo!()
    }
    pub fn max_cpus(&self) -> Cpus {
        todo!()
    }
}

impl std::fmt::Display for Classification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.tier)
    }
}
