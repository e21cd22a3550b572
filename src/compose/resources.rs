//! A service's resources as Compose reads them, in either form people write:
//! `deploy.resources.{limits,reservations}.{cpus,memory}`, or the service-level keys
//! `cpus`, `mem_limit`, `mem_reservation` of the older file format (still read by both
//! Compose flavours). Values may come from the environment (`${DB_MEMORY_LIMIT:-2g}`),
//! substituted as Compose substitutes them ([`super::env`]).
//!
//! When a service sets a value both ways, compose-go (v2) refuses the file unless they
//! are equal ("can't set distinct values on 'cpus' and 'deploy.resources.limits.cpus'");
//! xzup reads the `deploy` one, warns about a difference, and writes both alike.

use serde_yaml_ng::Mapping;

use super::env::{self, Env};
use super::read::{lookup, scalar_text};
use super::{ComposeError, ComposeFile};
use crate::settings::{Allocation, ObservedResources, Resources};
use crate::units::{Cpus, Memory};

/// One of the four values a tier sets on a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResKey {
    LimitCpus,
    LimitMemory,
    ReserveCpus,
    ReserveMemory,
}

impl ResKey {
    pub const ALL: [ResKey; 4] = [
        ResKey::LimitCpus,
        ResKey::LimitMemory,
        ResKey::ReserveCpus,
        ResKey::ReserveMemory,
    ];

    /// `limits` or `reservations`.
    pub fn section(self) -> &'static str {
        match self {
            ResKey::LimitCpus | ResKey::LimitMemory => "limits",
            ResKey::ReserveCpus | ResKey::ReserveMemory => "reservations",
        }
    }

    /// `cpus` or `memory`.
    pub fn leaf(self) -> &'static str {
        match self {
            ResKey::LimitCpus | ResKey::ReserveCpus => "cpus",
            ResKey::LimitMemory | ResKey::ReserveMemory => "memory",
        }
    }

    pub fn is_cpus(self) -> bool {
        self.leaf() == "cpus"
    }

    /// `deploy.resources.limits.cpus`, …
    pub fn deploy_path(self) -> String {
        format!("deploy.resources.{}.{}", self.section(), self.leaf())
    }

    /// The service-level key for the same value; a CPU reservation has none (and Docker
    /// reserves no CPU for a plain container anyway).
    pub fn legacy(self) -> Option<&'static str> {
        match self {
            ResKey::LimitCpus => Some("cpus"),
            ResKey::LimitMemory => Some("mem_limit"),
            ResKey::ReserveCpus => None,
            ResKey::ReserveMemory => Some("mem_reservation"),
        }
    }

    /// What `resources` gives this value, as text in the tier's spelling.
    pub fn wanted(self, resources: &Resources) -> Wanted {
        let alloc: &Allocation = match self.section() {
            "limits" => &resources.limits,
            _ => &resources.reservations,
        };
        if self.is_cpus() {
            Wanted::Cpus(alloc.cpus)
        } else {
            Wanted::Memory(alloc.memory.clone())
        }
    }
}

/// A value to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wanted {
    Cpus(Cpus),
    Memory(Memory),
}

impl Wanted {
    /// Whether `text` (as Compose reads it, variables substituted) already is this value.
    pub fn is(&self, text: &str) -> bool {
        match self {
            Wanted::Cpus(c) => Cpus::parse(text).is_ok_and(|t| t == *c),
            Wanted::Memory(m) => Memory::parse_compose(text).is_ok_and(|t| t == *m),
        }
    }

    /// The value written like `old` (`4g` keeps its lower-case unit: `16g`).
    pub fn text_like(&self, old: Option<&str>) -> String {
        match self {
            Wanted::Cpus(c) => c.to_string(),
            Wanted::Memory(m) => {
                let lower = old
                    .and_then(|o| o.chars().rev().find(|c| c.is_ascii_alphabetic()))
                    .is_some_and(|c| c.is_ascii_lowercase());
                if lower {
                    m.text.to_ascii_lowercase()
                } else {
                    m.text.clone()
                }
            }
        }
    }
}

/// The text of `key` (a dotted deploy path or a service-level key) in `service`,
/// variables substituted.
fn value_text(
    file: &ComposeFile,
    name: &str,
    service: &Mapping,
    key: &str,
) -> Result<Option<String>, ComposeError> {
    let path: Vec<&str> = key.split('.').collect();
    let Some(value) = lookup(service, &path) else {
        return Ok(None);
    };
    let bad = |value: String, reason: String| ComposeError::BadValue {
        path: file.path.clone(),
        service: name.to_string(),
        key: key.to_string(),
        value,
        reason,
    };
    let text = scalar_text(value)
        .ok_or_else(|| bad("…".to_string(), "it is not a single value".to_string()))?;
    substitute(&text, &file.env)
        .map(Some)
        .map_err(|e| bad(text, e))
}

/// `text` with its variables substituted; the reason when that fails.
pub(crate) fn substitute(text: &str, env: &Env) -> Result<String, String> {
    env::interpolate(text, env).map_err(|e| e.to_string())
}

/// The value `key` has in `service`: the `deploy` form first, else the service-level key.
fn effective(
    file: &ComposeFile,
    name: &str,
    service: &Mapping,
    key: ResKey,
) -> Result<Option<(String, String)>, ComposeError> {
    if let Some(text) = value_text(file, name, service, &key.deploy_path())? {
        return Ok(Some((key.deploy_path(), text)));
    }
    match key.legacy() {
        Some(legacy) => {
            Ok(value_text(file, name, service, legacy)?.map(|t| (legacy.to_string(), t)))
        }
        None => Ok(None),
    }
}

/// What a service sets, in either form.
pub(crate) fn observe(
    file: &ComposeFile,
    name: &str,
    service: &Mapping,
) -> Result<ObservedResources, ComposeError> {
    let bad = |key: String, text: &str, e: crate::units::UnitError| ComposeError::BadValue {
        path: file.path.clone(),
        service: name.to_string(),
        key,
        value: text.to_string(),
        reason: e.expected.to_string(),
    };
    let cpus = |key: ResKey| -> Result<Option<Cpus>, ComposeError> {
        effective(file, name, service, key)?
            .map(|(k, t)| Cpus::parse(&t).map_err(|e| bad(k, &t, e)))
            .transpose()
    };
    let memory = |key: ResKey| -> Result<Option<Memory>, ComposeError> {
        effective(file, name, service, key)?
            .map(|(k, t)| Memory::parse_compose(&t).map_err(|e| bad(k, &t, e)))
            .transpose()
    };
    Ok(ObservedResources {
        limit_cpus: cpus(ResKey::LimitCpus)?,
        limit_memory: memory(ResKey::LimitMemory)?,
        reserve_cpus: cpus(ResKey::ReserveCpus)?,
        reserve_memory: memory(ResKey::ReserveMemory)?,
    })
}

/// The values a service sets both ways, differently: (service-level key, its text,
/// deploy path, its text). Compose v2 refuses such a file.
pub(crate) fn conflicts(
    file: &ComposeFile,
    service: &Mapping,
) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for key in ResKey::ALL {
        let Some(legacy) = key.legacy() else {
            continue;
        };
        let read = |k: &str| {
            let path: Vec<&str> = k.split('.').collect();
            lookup(service, &path)
                .and_then(scalar_text)
                .map(|t| substitute(&t, &file.env).unwrap_or(t))
        };
        let (Some(old), Some(new)) = (read(legacy), read(&key.deploy_path())) else {
            continue;
        };
        let same = if key.is_cpus() {
            matches!((Cpus::parse(&old), Cpus::parse(&new)), (Ok(a), Ok(b)) if a == b)
        } else {
            matches!((Memory::parse_compose(&old), Memory::parse_compose(&new)), (Ok(a), Ok(b)) if a == b)
        };
        if !same {
            out.push((legacy.to_string(), old, key.deploy_path(), new));
        }
    }
    out
}
