//! What a window says: per role the CPU and memory summaries against the limits, the db's
//! buffer pool and connections, Redis's memory and evictions, the round-trips, the host —
//! and the findings, by the plan's thresholds, each with its evidence and what to do.
//!
//! Thresholds (resource-tiers-plan, monitoring and tuning sections, FAQ Q2/Q4): CPU < 70%
//! and memory < 80% of each limit; everything under 30% means the tier is too big; buffer
//! pool hit rate ≥ 95%; Redis `evicted_keys` growing → raise `maxmemory`; DB queries
//! < 100 ms, API < 500 ms; data on an SSD.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::roles::Role;
use crate::sizing::sample::{HttpProbe, Window};
use crate::sizing::stats::{Summary, counter_delta, ratio};
use crate::units::human_bytes;

pub const CPU_LIMIT: f64 = 0.70;
pub const MEMORY_LIMIT: f64 = 0.80;
pub const OVERSIZED_BELOW: f64 = 0.30;
pub const HIT_RATE_MIN: f64 = 0.95;
/// `Max_used_connections` at this share of `max_connections` is near the limit.
pub const CONNECTIONS_NEAR: f64 = 0.80;
pub const QUERY_MS_MAX: f64 = 100.0;
pub const API_MS_MAX: f64 = 500.0;

/// The host as the doctor sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostFacts {
    pub cpus: u32,
    pub memory: Option<u64>,
    /// The host the active tier asks for (its `host` line), when the file is on a tier.
    pub tier: Option<String>,
    pub tier_host_cpus: Option<u32>,
    pub tier_host_memory: Option<u64>,
    pub data_dirs: Vec<DataDir>,
    /// What GPU was found (`/dev/nvidia0`, a DRM card), `None` for none.
    pub gpu: Option<String>,
}

/// A data dir and whether its disk spins.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DataDir {
    pub role: Role,
    pub path: PathBuf,
    /// `None` when the disk could not be told (a tmpfs, an overlay).
    pub rotational: Option<bool>,
}

/// One role over the window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleReport {
    pub role: Role,
    pub service: String,
    pub container: Option<String>,
    pub running: bool,
    pub limit_cpus: Option<f64>,
    pub limit_memory: Option<u64>,
    /// CPU as a share of the cpus limit (of the host's cores without one).
    pub cpu: Option<Summary>,
    /// Memory as a share of the limit (of the host's memory without one).
    pub memory: Option<Summary>,
    /// Cores busy (1.0 = one core) and bytes used.
    pub cores: Option<Summary>,
    pub memory_bytes: Option<Summary>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MysqlReport {
    /// `1 - Δreads / Δread_requests` over the window; `None` without logical reads.
    pub hit_rate: Option<f64>,
    pub pool_reads: Option<u64>,
    pub pool_read_requests: Option<u64>,
    pub data_bytes: Option<u64>,
    pub pool_bytes: u64,
    pub max_used_connections: u64,
    pub max_connections: u64,
    pub slow_queries: Option<u64>,
    /// The slowest round-trip of `SELECT 1` in the window.
    pub query_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RedisReport {
    pub used_memory: Option<u64>,
    pub maxmemory: u64,
    pub evicted_keys: Option<u64>,
    pub keyspace_hits: Option<u64>,
    pub keyspace_misses: Option<u64>,
    pub hit_ratio: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    UndersizedCpu,
    UndersizedMemory,
    Oversized,
    BufferPoolHitRate,
    BufferPoolSmall,
    RedisEvicting,
    ConnectionsNearLimit,
    SlowQuery,
    SlowApi,
    SlowDisk,
}

impl Kind {
    /// The name JSON and the text report give it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::UndersizedCpu => "undersized-cpu",
            Kind::UndersizedMemory => "undersized-memory",
            Kind::Oversized => "oversized",
            Kind::BufferPoolHitRate => "buffer-pool-hit-rate",
            Kind::BufferPoolSmall => "buffer-pool-small",
            Kind::RedisEvicting => "redis-evicting",
            Kind::ConnectionsNearLimit => "connections-near-limit",
            Kind::SlowQuery => "slow-query",
            Kind::SlowApi => "slow-api",
            Kind::SlowDisk => "slow-disk",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    pub kind: Kind,
    pub role: Option<Role>,
    pub evidence: String,
    pub action: String,
}

/// The doctor's report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assessment {
    pub window_secs: f64,
    pub samples: usize,
    pub roles: Vec<RoleReport>,
    /// Roles no service plays here: not measured.
    pub absent: Vec<Role>,
    pub mysql: Option<MysqlReport>,
    pub redis: Option<RedisReport>,
    pub http: Vec<HttpProbe>,
    pub server_processes: Option<Vec<String>>,
    pub host: HostFacts,
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
}

/// Summarises `window` and finds what crosses a threshold.
pub fn assess(window: &Window, host: HostFacts, absent: Vec<Role>) -> Assessment {
    let roles: Vec<RoleReport> = window
        .containers
        .iter()
        .map(|(role, c)| {
            let cores: Vec<f64> = series(window, *role, |u| u.cores);
            let bytes: Vec<f64> = series(window, *role, |u| u.memory as f64);
            let cpu_base = c.limit_cpus.unwrap_or(f64::from(host.cpus.max(1)));
            let mem_base = c.limit_memory.or(host.memory);
            RoleReport {
                role: *role,
                service: c.service.clone(),
                container: c.name.clone(),
                running: c.running,
                limit_cpus: c.limit_cpus,
                limit_memory: c.limit_memory,
                cpu: Summary::of(&cores).map(|s| s.scaled(1.0 / cpu_base)),
                memory: mem_base
                    .filter(|b| *b > 0)
                    .and_then(|b| Summary::of(&bytes).map(|s| s.scaled(1.0 / b as f64))),
                cores: Summary::of(&cores),
                memory_bytes: Summary::of(&bytes),
            }
        })
        .collect();
    let mysql = window.mysql.as_ref().map(|m| {
        let reads = counter_delta(&m.pool_reads);
        let requests = counter_delta(&m.pool_read_requests);
        MysqlReport {
            hit_rate: match (reads, requests) {
                (Some(r), Some(q)) => ratio(r, q).map(|miss| (1.0 - miss).max(0.0)),
                _ => None,
            },
            pool_reads: reads,
            pool_read_requests: requests,
            data_bytes: m.data_bytes,
            pool_bytes: m.pool_bytes,
            max_used_connections: m.max_used_connections,
            max_connections: m.max_connections,
            slow_queries: counter_delta(&m.slow_queries),
            query_ms: m.query_ms.iter().copied().reduce(f64::max),
        }
    });
    let redis = window.redis.as_ref().map(|r| {
        let hits = counter_delta(&r.keyspace_hits);
        let misses = counter_delta(&r.keyspace_misses);
        RedisReport {
            used_memory: r.used_memory.iter().copied().max(),
            maxmemory: r.maxmemory,
            evicted_keys: counter_delta(&r.evicted_keys),
            keyspace_hits: hits,
            keyspace_misses: misses,
            hit_ratio: match (hits, misses) {
                (Some(h), Some(m)) => ratio(h, h + m),
                _ => None,
            },
        }
    });
    let mut assessment = Assessment {
        window_secs: window.secs,
        samples: window.ticks.len(),
        roles,
        absent,
        mysql,
        redis,
        http: window.http.clone(),
        server_processes: window.server_processes.clone(),
        host,
        findings: Vec::new(),
        notes: window.notes.clone(),
    };
    assessment.findings = findings(&assessment);
    assessment
}

fn series(window: &Window, role: Role, pick: fn(&crate::sizing::sample::Usage) -> f64) -> Vec<f64> {
    window
        .ticks
        .iter()
        .filter_map(|t| t.usage.get(&role).map(pick))
        .collect()
}

fn pct(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

/// The findings of an assessment, in the plan's priority order of roles.
pub fn findings(a: &Assessment) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in &a.roles {
        let basis = if r.limit_cpus.is_some() {
            "of its cpus limit"
        } else {
            "of the host's cores (no cpus limit)"
        };
        if let Some(cpu) = r.cpu.filter(|c| c.p95 >= CPU_LIMIT) {
            out.push(Finding {
                kind: Kind::UndersizedCpu,
                role: Some(r.role),
                evidence: format!(
                    "{}: CPU p95 {} {basis} (p50 {}, max {}, {} samples); the plan says under 70%",
                    r.role,
                    pct(cpu.p95),
                    pct(cpu.p50),
                    pct(cpu.max),
                    cpu.n
                ),
                action: format!(
                    "give {} more cores: `xzup recommend` names the tier (the plan's Q3: server first, then db, redis, web)",
                    r.role
                ),
            });
        }
        if let Some(mem) = r.memory.filter(|m| m.p95 >= MEMORY_LIMIT) {
            out.push(Finding {
                kind: Kind::UndersizedMemory,
                role: Some(r.role),
                evidence: format!(
                    "{}: memory p95 {} of its limit (max {}); the plan says under 80%, or it risks the OOM killer",
                    r.role,
                    pct(mem.p95),
                    pct(mem.max)
                ),
                action: format!(
                    "give {} more memory: `xzup recommend` names the tier",
                    r.role
                ),
            });
        }
    }
    let measured: Vec<&RoleReport> = a.roles.iter().filter(|r| r.cpu.is_some()).collect();
    let all_low = !measured.is_empty()
        && measured.iter().all(|r| {
            r.limit_cpus.is_some()
                && r.limit_memory.is_some()
                && r.cpu.is_some_and(|c| c.p95 < OVERSIZED_BELOW)
                && r.memory.is_some_and(|m| m.p95 < OVERSIZED_BELOW)
        });
    if all_low {
        let parts: Vec<String> = measured
            .iter()
            .map(|r| {
                format!(
                    "{} CPU {} / memory {}",
                    r.role,
                    pct(r.cpu.map_or(0.0, |c| c.p95)),
                    pct(r.memory.map_or(0.0, |m| m.p95))
                )
            })
            .collect();
        out.push(Finding {
            kind: Kind::Oversized,
            role: None,
            evidence: format!(
                "every role is under 30% of its limits at p95 ({})",
                parts.join(", ")
            ),
            action: "the tier is larger than this load needs (the plan's Q4), or the load has not come yet: record a few days (`xzup doctor --record`), then `xzup recommend`".into(),
        });
    }
    if let Some(m) = &a.mysql {
        if let Some(rate) = m.hit_rate.filter(|r| *r < HIT_RATE_MIN) {
            out.push(Finding {
                kind: Kind::BufferPoolHitRate,
                role: Some(Role::Db),
                evidence: format!(
                    "db: buffer pool hit rate {:.1}% over the window ({} of {} page reads went to disk); the plan says 95% or more",
                    rate * 100.0,
                    m.pool_reads.unwrap_or(0),
                    m.pool_read_requests.unwrap_or(0)
                ),
                action: format!(
                    "grow innodb_buffer_pool_size (now {}): a larger tier's db, `xzup recommend`",
                    human_bytes(m.pool_bytes)
                ),
            });
        }
        if let Some(data) = m
            .data_bytes
            .filter(|d| m.pool_bytes > 0 && *d > m.pool_bytes)
        {
            out.push(Finding {
                kind: Kind::BufferPoolSmall,
                role: Some(Role::Db),
                evidence: format!(
                    "db: InnoDB data and indexes are {}, the buffer pool {}: not all of it fits",
                    human_bytes(data),
                    human_bytes(m.pool_bytes)
                ),
                action: "a tier whose innodb_buffer_pool_size holds the data (`xzup recommend`)"
                    .into(),
            });
        }
        if m.max_connections > 0
            && m.max_used_connections as f64 >= CONNECTIONS_NEAR * m.max_connections as f64
        {
            out.push(Finding {
                kind: Kind::ConnectionsNearLimit,
                role: Some(Role::Db),
                evidence: format!(
                    "db: Max_used_connections {} of max_connections {}",
                    m.max_used_connections, m.max_connections
                ),
                action: "raise max_connections (a larger tier's db), or find what holds connections open".into(),
            });
        }
        if let Some(ms) = m.query_ms.filter(|ms| *ms >= QUERY_MS_MAX) {
            out.push(Finding {
                kind: Kind::SlowQuery,
                role: Some(Role::Db),
                evidence: format!(
                    "db: `SELECT 1` took {ms:.0} ms at worst; the plan says DB queries under 100 ms"
                ),
                action:
                    "look at the db's CPU and disk first (this report), then the slow query log"
                        .into(),
            });
        }
    }
    if let Some(r) = &a.redis
        && let Some(evicted) = r.evicted_keys.filter(|e| *e > 0)
    {
        out.push(Finding {
            kind: Kind::RedisEvicting,
            role: Some(Role::Redis),
            evidence: format!(
                "redis: {evicted} keys evicted in the window (used_memory {}, maxmemory {})",
                r.used_memory.map_or("unknown".into(), human_bytes),
                human_bytes(r.maxmemory)
            ),
            action: "raise maxmemory (a larger tier's redis, `xzup recommend`); the plan: evicted_keys growing means Redis is too small".into(),
        });
    }
    for probe in &a.http {
        if let Some(ms) = probe.ms.filter(|ms| *ms >= API_MS_MAX) {
            out.push(Finding {
                kind: Kind::SlowApi,
                role: Some(probe.role),
                evidence: format!(
                    "{}: the {} ({}) answered in {ms:.0} ms; the plan says under 500 ms",
                    probe.role, probe.what, probe.url
                ),
                action: format!("look at {}'s CPU and memory above", probe.role),
            });
        }
    }
    for dir in a
        .host
        .data_dirs
        .iter()
        .filter(|d| d.rotational == Some(true))
    {
        out.push(Finding {
            kind: Kind::SlowDisk,
            role: Some(dir.role),
            evidence: format!(
                "{}: its data dir `{}` is on a rotational disk",
                dir.role,
                dir.path.display()
            ),
            action: "move the data to an SSD (the plan's Q2: disk I/O)".into(),
        });
    }
    out
}

#[cfg(test)]
mod tests;
