//! `recommend`: for each role the smallest tier of the catalog whose limits cover what the
//! role used — its p95 CPU at 70% of the cpus limit and its peak memory at 80% of the memory
//! limit (Robusta KRR's rule: CPU at a high percentile, memory at the peak plus a margin) —
//! and, for the db, a buffer pool that holds the data where some tier's does (MySQLTuner),
//! for Redis a `maxmemory` above the one it evicted at. Then the tier for the whole stack,
//! or `--only` runs when roles need different tiers (the plan's Q3).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::host::{Fit, Needs};
use crate::roles::Role;
use crate::sizing::findings::{CPU_LIMIT, HIT_RATE_MIN, MEMORY_LIMIT};
use crate::sizing::record::{self, Line};
use crate::sizing::sample::Usage;
use crate::sizing::stats::Summary;
use crate::tiers::{Catalog, Tier};
use crate::units::{Cpus, Memory, human_bytes};

/// What the recommendation rests on.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub usage: BTreeMap<Role, Vec<Usage>>,
    /// The newest InnoDB data + index size.
    pub db_data: Option<u64>,
    /// The largest buffer pool a window saw a hit rate under 95% with.
    pub low_hit_pool: Option<u64>,
    /// The largest `maxmemory` a window saw Redis evict at.
    pub evicting_at: Option<u64>,
    /// Seconds since the epoch of the first and last sample.
    pub span: Option<(u64, u64)>,
    pub windows: usize,
}

impl Evidence {
    /// From record lines (a fresh window goes through [`record::lines`] too).
    pub fn from_lines(lines: &[Line]) -> Evidence {
        let mut e = Evidence::default();
        for line in lines {
            if let Some(u) = &line.u {
                for (role, pair) in u {
                    e.usage.entry(*role).or_default().push(record::usage(*pair));
                }
                e.span = Some(match e.span {
                    Some((a, b)) => (a.min(line.t), b.max(line.t)),
                    None => (line.t, line.t),
                });
            }
            if line.w.is_some() {
                e.windows += 1;
            }
            if let Some(db) = &line.db {
                if db.data.is_some() {
                    e.db_data = db.data;
                }
                if db.hit.is_some_and(|h| h < HIT_RATE_MIN) {
                    e.low_hit_pool = e.low_hit_pool.max(Some(db.pool));
                }
            }
            if let Some(r) = line.redis.as_ref().filter(|r| r.ev > 0) {
                e.evicting_at = e.evicting_at.max(Some(r.max));
            }
        }
        e
    }

    pub fn samples(&self) -> usize {
        self.usage.values().map(Vec::len).max().unwrap_or(0)
    }
}

/// One role's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct RoleChoice {
    pub role: Role,
    pub samples: usize,
    pub p95_cores: Option<f64>,
    pub peak_memory: Option<u64>,
    /// The tier this role's file matches now, when it matches one.
    pub current: Option<String>,
    /// The smallest tier that covers it; without one that does, the largest.
    pub tier: Option<String>,
    /// Whether `tier` covers every need (false: no tier in the catalog does).
    pub covered: bool,
    pub reasons: Vec<String>,
}

/// The recommendation.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub roles: Vec<RoleChoice>,
    /// The smallest tier that covers every role, when one does.
    pub stack_tier: Option<String>,
    /// The `xzup apply` commands to run, in order; empty when nothing needs to change.
    pub commands: Vec<String>,
    /// Whether this host can run the result.
    pub host_fit: Option<String>,
    pub host_runs: bool,
    /// The host the plan asks for with the stack tier.
    pub tier_host: Option<String>,
}

/// What a role needs of a tier.
struct Need {
    p95_cores: Option<f64>,
    peak_memory: Option<u64>,
    /// db: a pool at least this large; redis: a maxmemory above this.
    pool_at_least: Option<u64>,
    pool_above: Option<u64>,
    maxmemory_above: Option<u64>,
}

/// Recommends for `roles` (present and asked), given what each file matches now.
pub fn recommend(
    catalog: &Catalog,
    evidence: &Evidence,
    roles: &[Role],
    current: &BTreeMap<Role, Option<String>>,
    host_cpus: u32,
    host_memory: Option<Memory>,
    apply_prefix: &str,
) -> Recommendation {
    let mut choices = Vec::new();
    let mut needs: BTreeMap<Role, Need> = BTreeMap::new();
    for role in roles {
        let (need, mut reasons) = need_of(catalog, evidence, *role);
        let samples = evidence.usage.get(role).map_or(0, Vec::len);
        let (tier, covered) = if samples == 0 {
            reasons.push("no samples of it: nothing to recommend from".into());
            (None, false)
        } else {
            let ordered = by_size(catalog, *role);
            match ordered.iter().find(|t| covers(t, *role, &need)) {
                Some(t) => {
                    let r = t.resources(*role);
                    reasons.push(format!(
                        "→ {} (cpus {}, memory {}{}): the smallest tier that covers it",
                        t.name,
                        r.limits.cpus,
                        r.limits.memory,
                        extra(t, *role)
                    ));
                    (Some(t.name.clone()), true)
                }
                None => {
                    let largest = ordered.last().map(|t| t.name.clone());
                    reasons.push(format!(
                        "→ no tier covers it; the largest for {role} is {}",
                        largest.as_deref().unwrap_or("none")
                    ));
                    (largest, false)
                }
            }
        };
        choices.push(RoleChoice {
            role: *role,
            samples,
            p95_cores: need.p95_cores,
            peak_memory: need.peak_memory,
            current: current.get(role).cloned().flatten(),
            tier,
            covered,
            reasons,
        });
        needs.insert(*role, need);
    }

    let measured: Vec<Role> = choices
        .iter()
        .filter(|c| c.tier.is_some())
        .map(|c| c.role)
        .collect();
    let stack = stack_tier(catalog, &measured, &needs);
    let commands = commands(&choices, stack, apply_prefix);

    // The host against the result: each measured role at its recommended tier.
    let (mut cores, mut memory) = (Cpus(0), 0u64);
    for c in &choices {
        if let Some(t) = c.tier.as_deref().and_then(|n| catalog.get(n).ok()) {
            let r = t.resources(c.role);
            cores = cores.max(r.limits.cpus);
            memory += r.limits.memory.bytes;
        }
    }
    let fit = (!measured.is_empty()).then(|| {
        Fit::judge(
            Needs {
                cores,
                memory: Memory::from_bytes(memory),
            },
            host_cpus,
            host_memory,
        )
    });
    Recommendation {
        stack_tier: stack.map(|t| t.name.clone()),
        tier_host: stack.filter(|t| t.info.host_cpus > 0).map(|t| {
            format!(
                "the plan asks for a host of {} cores and {} for {}",
                t.info.host_cpus, t.info.host_memory, t.name
            )
        }),
        host_runs: fit.as_ref().is_none_or(|f| f.runs),
        host_fit: fit.map(|f| f.to_string()),
        roles: choices,
        commands,
    }
}

fn need_of(catalog: &Catalog, e: &Evidence, role: Role) -> (Need, Vec<String>) {
    let mut reasons = Vec::new();
    let samples = e.usage.get(&role).map(Vec::as_slice).unwrap_or(&[]);
    let cores: Vec<f64> = samples.iter().map(|u| u.cores).collect();
    let p95_cores = Summary::of(&cores).map(|s| s.p95);
    let peak_memory = samples.iter().map(|u| u.memory).max();
    if let Some(c) = p95_cores {
        reasons.push(format!(
            "CPU p95 {c:.2} cores over {} samples: a cpus limit of at least {:.2} keeps it under 70%",
            cores.len(),
            c / CPU_LIMIT
        ));
    }
    if let Some(m) = peak_memory {
        reasons.push(format!(
            "memory peak {}: a limit of at least {} keeps it under 80%",
            human_bytes(m),
            human_bytes((m as f64 / MEMORY_LIMIT).ceil() as u64)
        ));
    }
    let mut need = Need {
        p95_cores,
        peak_memory,
        pool_at_least: None,
        pool_above: None,
        maxmemory_above: None,
    };
    let largest_pool = catalog
        .tiers
        .iter()
        .map(|t| t.mysql.innodb_buffer_pool_size.bytes)
        .max()
        .unwrap_or(0);
    let largest_maxmemory = catalog
        .tiers
        .iter()
        .map(|t| t.redis.maxmemory.bytes)
        .max()
        .unwrap_or(0);
    match role {
        Role::Db => {
            if let Some(data) = e.db_data {
                if data <= largest_pool {
                    need.pool_at_least = Some(data);
                    reasons.push(format!(
                        "InnoDB data and indexes {}: a buffer pool that holds them",
                        human_bytes(data)
                    ));
                } else {
                    reasons.push(format!(
                        "InnoDB data and indexes {} are larger than any tier's buffer pool: not a constraint",
                        human_bytes(data)
                    ));
                }
            }
            if let Some(pool) = e.low_hit_pool {
                if pool < largest_pool {
                    need.pool_above = Some(pool);
                    reasons.push(format!(
                        "buffer pool hit rate under 95% with a {} pool: a larger one",
                        human_bytes(pool)
                    ));
                } else {
                    reasons.push(format!(
                        "buffer pool hit rate under 95% with a {} pool, and no tier has a larger one",
                        human_bytes(pool)
                    ));
                }
            }
        }
        Role::Redis => {
            if let Some(max) = e.evicting_at {
                if max < largest_maxmemory {
                    need.maxmemory_above = Some(max);
                    reasons.push(format!(
                        "evicted keys at maxmemory {}: a larger maxmemory",
                        human_bytes(max)
                    ));
                } else {
                    reasons.push(format!(
                        "evicted keys at maxmemory {}, and no tier has a larger one",
                        human_bytes(max)
                    ));
                }
            }
        }
        Role::Server | Role::Web => {}
    }
    (need, reasons)
}

fn extra(t: &Tier, role: Role) -> String {
    match role {
        Role::Db => format!(", buffer pool {}", t.mysql.innodb_buffer_pool_size),
        Role::Redis => format!(", maxmemory {}", t.redis.maxmemory),
        Role::Server | Role::Web => String::new(),
    }
}

/// Whether `tier` gives `role` what it needs.
fn covers(tier: &Tier, role: Role, need: &Need) -> bool {
    let r = tier.resources(role);
    let cpu_ok = need
        .p95_cores
        .is_none_or(|c| c <= CPU_LIMIT * r.limits.cpus.cores() + 1e-9);
    let mem_ok = need
        .peak_memory
        .is_none_or(|m| m as f64 <= MEMORY_LIMIT * r.limits.memory.bytes as f64);
    let pool = tier.mysql.innodb_buffer_pool_size.bytes;
    let db_ok = role != Role::Db
        || (need.pool_at_least.is_none_or(|d| pool >= d)
            && need.pool_above.is_none_or(|p| pool > p));
    let redis_ok = role != Role::Redis
        || need
            .maxmemory_above
            .is_none_or(|m| tier.redis.maxmemory.bytes > m);
    cpu_ok && mem_ok && db_ok && redis_ok
}

/// The catalog's tiers from the smallest for `role` (cpus, then memory, then the db's pool
/// or Redis's maxmemory; file order breaks ties).
fn by_size(catalog: &Catalog, role: Role) -> Vec<&Tier> {
    let mut tiers: Vec<&Tier> = catalog.tiers.iter().collect();
    tiers.sort_by_key(|t| {
        let r = t.resources(role);
        let store = match role {
            Role::Db => t.mysql.innodb_buffer_pool_size.bytes,
            Role::Redis => t.redis.maxmemory.bytes,
            Role::Server | Role::Web => 0,
        };
        (r.limits.cpus, r.limits.memory.bytes, store)
    });
    tiers
}

/// The smallest tier (by its limits in all over `roles`) that covers every one of them.
fn stack_tier<'a>(
    catalog: &'a Catalog,
    roles: &[Role],
    needs: &BTreeMap<Role, Need>,
) -> Option<&'a Tier> {
    if roles.is_empty() {
        return None;
    }
    let mut tiers: Vec<&Tier> = catalog.tiers.iter().collect();
    tiers.sort_by_key(|t| {
        let cpus: u32 = roles.iter().map(|r| t.resources(*r).limits.cpus.0).sum();
        let memory: u64 = roles
            .iter()
            .map(|r| t.resources(*r).limits.memory.bytes)
            .sum();
        (cpus, memory)
    });
    tiers
        .into_iter()
        .find(|t| roles.iter().all(|r| covers(t, *r, &needs[r])))
}

/// One `apply` when every role wants the same tier; else one `--only` apply per tier, for
/// the roles whose tier changes (in the plan's priority order: server first).
fn commands(choices: &[RoleChoice], stack: Option<&Tier>, prefix: &str) -> Vec<String> {
    let chosen: Vec<&RoleChoice> = choices.iter().filter(|c| c.tier.is_some()).collect();
    let changing: Vec<&RoleChoice> = chosen
        .iter()
        .copied()
        .filter(|c| c.tier != c.current)
        .collect();
    if changing.is_empty() {
        return Vec::new();
    }
    let all_same = chosen.iter().all(|c| c.tier == chosen[0].tier);
    if all_same && stack.is_some_and(|s| Some(&s.name) == chosen[0].tier.as_ref()) {
        return vec![format!(
            "{prefix} --tier {}",
            chosen[0].tier.as_deref().unwrap_or_default()
        )];
    }
    let mut groups: Vec<(String, Vec<Role>)> = Vec::new();
    for c in changing {
        let tier = c.tier.clone().unwrap_or_default();
        match groups.iter_mut().find(|(t, _)| *t == tier) {
            Some((_, roles)) => roles.push(c.role),
            None => groups.push((tier, vec![c.role])),
        }
    }
    groups
        .into_iter()
        .map(|(tier, roles)| {
            let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
            format!("{prefix} --tier {tier} --only {}", names.join(","))
        })
        .collect()
}

#[cfg(test)]
mod tests;
