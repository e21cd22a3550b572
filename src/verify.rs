//! Verification after `up`: what runs is what the tier says.
//!
//! - `docker inspect`: each role's container has the memory limit, cpus limit and memory
//!   reservation the compose file sets (NOTES: Compose maps `limits.memory` → Memory,
//!   `limits.cpus` → NanoCpus, `reservations.memory` → MemoryReservation).
//! - MySQL reports the file's innodb_buffer_pool_size and max_connections.
//! - Redis reports the file's maxmemory and maxmemory-policy (`CONFIG GET`).
//! - `docker stats`, sampled over a window: CPU above 70% of the container's cpus or memory
//!   above 80% of its limit are the plan's monitoring thresholds — warnings, or failures
//!   with `--strict`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::docker::{ContainerInfo, ContainerStats, Docker, DockerError};
use crate::roles::Role;
use crate::settings::{ObservedMysql, ObservedRedis, ObservedResources};
use crate::units::{Cpus, human_bytes};

/// The plan's thresholds: CPU < 70%, memory < 80% of the limit.
pub const CPU_THRESHOLD: f64 = 0.70;
pub const MEMORY_THRESHOLD: f64 = 0.80;

/// What the running stack must show.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// Role → (service, resources as the new file sets them).
    pub services: BTreeMap<Role, (String, ObservedResources)>,
    pub mysql: ObservedMysql,
    pub redis: ObservedRedis,
    /// Root password for the MySQL check (from the compose file's environment).
    pub mysql_root_password: Option<String>,
}

/// What verification found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Checks that passed, for the step's detail.
    pub passed: Vec<String>,
    /// Mismatches: the run fails.
    pub failures: Vec<String>,
    /// Thresholds crossed (failures with `--strict`).
    pub warnings: Vec<String>,
    /// Peak CPU (share of the limit) and memory (share of the limit) per service.
    pub peaks: BTreeMap<String, (f64, f64)>,
}

/// Runs every check. `stop` is polled during the stats window (Ctrl-C).
pub fn verify(
    docker: &Docker,
    project: &str,
    expect: &Expectation,
    window: Duration,
    strict: bool,
    stop: &dyn Fn() -> bool,
) -> Result<Report, DockerError> {
    let mut report = Report::default();
    let containers = docker.project_containers(project)?;
    let by_service: BTreeMap<String, &ContainerInfo> = containers
        .iter()
        .filter_map(|c| c.service.clone().map(|s| (s, c)))
        .collect();

    for (role, (service, resources)) in &expect.services {
        match by_service.get(service) {
            Some(c) => {
                let problems = compare_limits(service, resources, c);
                if problems.is_empty() {
                    report.passed.push(format!("{role} limits"));
                }
                report.failures.extend(problems);
            }
            None => report.failures.push(format!(
                "{service}: no container of project `{project}` runs it"
            )),
        }
    }

    if let Some((service, _)) = expect.services.get(&Role::Db)
        && let (Some(c), true) = (by_service.get(service), wants_mysql(&expect.mysql))
    {
        let password = expect.mysql_root_password.clone().unwrap_or_default();
        let out = docker.mysql(
            &c.name,
            "root",
            &password,
            "SELECT @@innodb_buffer_pool_size, @@max_connections",
        )?;
        let problems = compare_mysql(service, &expect.mysql, &out);
        if problems.is_empty() {
            report.passed.push("MySQL settings".into());
        }
        report.failures.extend(problems);
    }
    if let Some((service, _)) = expect.services.get(&Role::Redis)
        && let (Some(c), true) = (by_service.get(service), wants_redis(&expect.redis))
    {
        let out = docker.redis_cli(&c.name, &["CONFIG", "GET", "maxmemory*"])?;
        let problems = compare_redis(service, &expect.redis, &out);
        if problems.is_empty() {
            report.passed.push("Redis settings".into());
        }
        report.failures.extend(problems);
    }

    let names: Vec<String> = containers.iter().map(|c| c.name.clone()).collect();
    let started = Instant::now();
    loop {
        let samples = docker.stats(&names)?;
        record_peaks(&mut report, &containers, &samples);
        if started.elapsed() >= window || stop() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let mut crossed = threshold_warnings(&report.peaks);
    // `docker stats` prints `--` for what it cannot read: no reading is not a 0% load.
    crossed.extend(unmeasured(&report, &containers));
    if strict {
        report.failures.extend(crossed);
    } else {
        report.warnings.extend(crossed);
    }
    Ok(report)
}

fn wants_mysql(m: &ObservedMysql) -> bool {
    m.max_connections.is_some() || m.innodb_buffer_pool_size.is_some()
}

fn wants_redis(r: &ObservedRedis) -> bool {
    r.maxmemory.is_some() || r.maxmemory_policy.is_some()
}

/// Inspect values against the file's: 0 in Docker means "no limit".
pub fn compare_limits(service: &str, want: &ObservedResources, c: &ContainerInfo) -> Vec<String> {
    let mut problems = Vec::new();
    let memory = want.limit_memory.as_ref().map_or(0, |m| m.bytes);
    if c.memory != memory {
        problems.push(format!(
            "{service}: memory limit is {}, the file says {}",
            limit_text(c.memory),
            limit_text(memory)
        ));
    }
    let nano = want.limit_cpus.map_or(0, Cpus::nano);
    if c.nano_cpus != nano {
        problems.push(format!(
            "{service}: cpus limit is {}, the file says {}",
            cpus_text(c.nano_cpus),
            cpus_text(nano)
        ));
    }
    let reservation = want.reserve_memory.as_ref().map_or(0, |m| m.bytes);
    if c.memory_reservation != reservation {
        problems.push(format!(
            "{service}: memory reservation is {}, the file says {}",
            limit_text(c.memory_reservation),
            limit_text(reservation)
        ));
    }
    problems
}

fn limit_text(bytes: u64) -> String {
    if bytes == 0 {
        "none".into()
    } else {
        human_bytes(bytes)
    }
}

fn cpus_text(nano: i64) -> String {
    if nano == 0 {
        "none".into()
    } else {
        Cpus::from_nano(nano).to_string()
    }
}

/// `SELECT @@innodb_buffer_pool_size, @@max_connections` (tab-separated) against the file.
pub fn compare_mysql(service: &str, want: &ObservedMysql, output: &str) -> Vec<String> {
    let mut fields = output.split_whitespace();
    let pool: Option<u64> = fields.next().and_then(|v| v.parse().ok());
    let conns: Option<u32> = fields.next().and_then(|v| v.parse().ok());
    let mut problems = Vec::new();
    if let Some(want_pool) = &want.innodb_buffer_pool_size
        && pool != Some(want_pool.bytes)
    {
        problems.push(format!(
            "{service}: MySQL innodb_buffer_pool_size is {}, the file says {}",
            pool.map_or("unreadable".into(), human_bytes),
            want_pool.text
        ));
    }
    if let Some(want_conns) = want.max_connections
        && conns != Some(want_conns)
    {
        problems.push(format!(
            "{service}: MySQL max_connections is {}, the file says {want_conns}",
            conns.map_or("unreadable".into(), |c| c.to_string())
        ));
    }
    problems
}

/// `CONFIG GET maxmemory*` (name/value lines) against the file.
pub fn compare_redis(service: &str, want: &ObservedRedis, output: &str) -> Vec<String> {
    let lines: Vec<&str> = output.lines().map(str::trim).collect();
    let value = |name: &str| {
        lines
            .chunks(2)
            .find(|pair| pair.first() == Some(&name))
            .and_then(|pair| pair.get(1).copied())
    };
    let mut problems = Vec::new();
    if let Some(want_max) = &want.maxmemory {
        let got: Option<u64> = value("maxmemory").and_then(|v| v.parse().ok());
        if got != Some(want_max.bytes) {
            problems.push(format!(
                "{service}: Redis maxmemory is {}, the file says {}",
                got.map_or("unreadable".into(), human_bytes),
                want_max.text
            ));
        }
    }
    if let Some(policy) = &want.maxmemory_policy {
        let got = value("maxmemory-policy");
        if got != Some(policy.as_str()) {
            problems.push(format!(
                "{service}: Redis maxmemory-policy is {}, the file says {policy}",
                got.unwrap_or("unreadable")
            ));
        }
    }
    problems
}

/// Keeps, per service, the highest CPU share of its cpus limit (of one core when it has
/// none) and the highest memory share of its limit.
/// The services `docker stats` gave no reading for (`--`) in the whole window.
fn unmeasured(report: &Report, containers: &[ContainerInfo]) -> Vec<String> {
    let mut services: Vec<String> = containers
        .iter()
        .map(|c| c.service.clone().unwrap_or_else(|| c.name.clone()))
        .filter(|s| !report.peaks.contains_key(s))
        .collect();
    services.sort();
    services.dedup();
    services
        .into_iter()
        .map(|s| {
            format!(
                "{s}: `docker stats` gave no reading (`--`) in the verify window: its CPU and memory were not measured"
            )
        })
        .collect()
}

/// Adds each readable sample to the peaks; an unreadable one (`--`) adds nothing.
fn record_peaks(report: &mut Report, containers: &[ContainerInfo], samples: &[ContainerStats]) {
    for sample in samples {
        let Some(c) = containers
            .iter()
            .find(|c| c.name == sample.name || c.id.starts_with(&sample.id))
        else {
            continue;
        };
        let service = c.service.clone().unwrap_or_else(|| c.name.clone());
        let cores = if c.nano_cpus > 0 {
            c.nano_cpus as f64 / 1e9
        } else {
            1.0
        };
        if sample.cpu_percent.is_none() && sample.mem_usage.is_none() {
            continue;
        }
        let cpu = sample.cpu_percent.map_or(0.0, |p| p / 100.0 / cores);
        let mem = match (sample.mem_usage, c.memory) {
            (Some(used), limit) if limit > 0 => used as f64 / limit as f64,
            _ => 0.0,
        };
        let peak = report.peaks.entry(service).or_insert((0.0, 0.0));
        peak.0 = peak.0.max(cpu);
        peak.1 = peak.1.max(mem);
    }
}

/// The plan's monitoring thresholds over the peaks.
pub fn threshold_warnings(peaks: &BTreeMap<String, (f64, f64)>) -> Vec<String> {
    let mut out = Vec::new();
    for (service, (cpu, mem)) in peaks {
        if *cpu > CPU_THRESHOLD {
            out.push(format!(
                "{service}: CPU at {:.0}% of its limit (the plan says keep it under 70%)",
                cpu * 100.0
            ));
        }
        if *mem > MEMORY_THRESHOLD {
            out.push(format!(
                "{service}: memory at {:.0}% of its limit (the plan says keep it under 80%)",
                mem * 100.0
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::Memory;

    fn mem(t: &str) -> Option<Memory> {
        Some(Memory::parse_compose(t).unwrap())
    }

    #[test]
    fn mysql_output_compared() {
        let want = ObservedMysql {
            max_connections: Some(2000),
            innodb_buffer_pool_size: Some(Memory::parse_mysql("2G").unwrap()),
            innodb_log_file_size: None,
        };
        assert!(compare_mysql("db", &want, "2147483648\t2000\n").is_empty());
        assert_eq!(
            compare_mysql("db", &want, "134217728\t151\n"),
            vec![
                "db: MySQL innodb_buffer_pool_size is 128M, the file says 2G",
                "db: MySQL max_connections is 151, the file says 2000"
            ]
        );
    }

    #[test]
    fn redis_output_compared() {
        let want = ObservedRedis {
            maxmemory: Some(Memory::parse_redis("1536mb").unwrap()),
            maxmemory_policy: Some("allkeys-lru".into()),
            save: vec![],
        };
        let ok = "maxmemory\n1610612736\nmaxmemory-policy\nallkeys-lru\nmaxmemory-samples\n5\n";
        assert!(compare_redis("redis", &want, ok).is_empty());
        let bad = "maxmemory\n0\nmaxmemory-policy\nnoeviction\n";
        assert_eq!(
            compare_redis("redis", &want, bad),
            vec![
                "redis: Redis maxmemory is 0B, the file says 1536mb",
                "redis: Redis maxmemory-policy is noeviction, the file says allkeys-lru"
            ]
        );
    }

    #[test]
    fn thresholds() {
        let mut peaks = BTreeMap::new();
        peaks.insert("server".to_string(), (0.75, 0.10));
        peaks.insert("db".to_string(), (0.10, 0.85));
        peaks.insert("web".to_string(), (0.70, 0.80));
        assert_eq!(
            threshold_warnings(&peaks),
            vec![
                "db: memory at 85% of its limit (the plan says keep it under 80%)",
                "server: CPU at 75% of its limit (the plan says keep it under 70%)",
            ]
        );
    }

    #[test]
    fn an_unreadable_sample_is_not_a_zero_load() {
        let c = container(1 << 30, 1_000_000_000, 0);
        let blank = ContainerStats {
            id: "abc".into(),
            name: "db".into(),
            cpu_percent: None,
            mem_usage: None,
            mem_limit: None,
            mem_percent: None,
            pids: None,
        };
        let mut report = Report::default();
        record_peaks(
            &mut report,
            std::slice::from_ref(&c),
            std::slice::from_ref(&blank),
        );
        assert!(report.peaks.is_empty(), "{:?}", report.peaks);
        assert_eq!(
            unmeasured(&report, std::slice::from_ref(&c)),
            [
                "db: `docker stats` gave no reading (`--`) in the verify window: its CPU and memory were not measured"
            ]
        );
        let read = ContainerStats {
            cpu_percent: Some(50.0),
            mem_usage: Some(1 << 29),
            ..blank
        };
        record_peaks(&mut report, std::slice::from_ref(&c), &[read]);
        assert_eq!(report.peaks["db"], (0.5, 0.5));
        assert!(unmeasured(&report, std::slice::from_ref(&c)).is_empty());
    }

    fn container(memory: u64, nano_cpus: i64, memory_reservation: u64) -> ContainerInfo {
        ContainerInfo {
            id: "abc".into(),
            name: "db".into(),
            service: Some("db".into()),
            project: Some("p".into()),
            working_dir: None,
            oneoff: false,
            image_id: "sha256:1".into(),
            image: "mysql:latest".into(),
            command: vec![],
            status: "running".into(),
            health: Some("healthy".into()),
            exit_code: 0,
            restart_count: 0,
            started_at: String::new(),
            memory,
            nano_cpus,
            memory_reservation,
            memory_swap: 0,
        }
    }

    #[test]
    fn limits_compared_and_absent_means_no_limit() {
        let want = ObservedResources {
            limit_cpus: Some(Cpus(500)),
            limit_memory: mem("256M"),
            reserve_cpus: Some(Cpus(250)),
            reserve_memory: None,
        };
        assert!(compare_limits("db", &want, &container(256 << 20, 500_000_000, 0)).is_empty());
        assert_eq!(
            compare_limits("db", &want, &container(0, 2_000_000_000, 128 << 20)),
            vec![
                "db: memory limit is none, the file says 256M",
                "db: cpus limit is 2, the file says 0.5",
                "db: memory reservation is 128M, the file says none",
            ]
        );
    }
}
