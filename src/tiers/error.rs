//! What goes wrong reading or using a tiers file, and where: [`TiersError`], each variant
//! with a hint that says what to write instead, at a [`Location`] (`FILE:LINE:COLUMN`).

use std::fmt;
use std::path::PathBuf;

use crate::roles::Role;

use super::CUSTOM;

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

pub(super) fn backticked(items: &[&str]) -> String {
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
