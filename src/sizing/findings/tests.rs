//! Findings on synthetic windows.

use super::*;
use crate::sizing::sample::{Container, Mysql, Redis, Tick, Usage};
use crate::sizing::stats::Reading;

const MIB: u64 = 1 << 20;

fn container(service: &str, cpus: f64, memory: u64) -> Container {
    Container {
        service: service.into(),
        name: Some(service.into()),
        running: true,
        limit_cpus: Some(cpus),
        limit_memory: Some(memory),
    }
}

fn reading(value: u64, uptime: u64) -> Reading {
    Reading {
        value,
        uptime: Some(uptime),
    }
}

/// A window of `n` ticks where `load(role, i)` is each role's (cores, memory).
fn window(
    containers: &[(Role, Container)],
    n: usize,
    load: impl Fn(Role, usize) -> (f64, u64),
) -> Window {
    Window {
        started: 1_000,
        secs: n as f64,
        containers: containers.iter().cloned().collect(),
        ticks: (0..n)
            .map(|i| Tick {
                at: 1_000 + i as u64,
                usage: containers
                    .iter()
                    .map(|(r, _)| {
                        let (cores, memory) = load(*r, i);
                        (*r, Usage { cores, memory })
                    })
                    .collect(),
            })
            .collect(),
        mysql: None,
        redis: None,
        http: Vec::new(),
        server_processes: None,
        notes: Vec::new(),
    }
}

fn host() -> HostFacts {
    HostFacts {
        cpus: 2,
        memory: Some(8 << 30),
        tier: None,
        tier_host_cpus: None,
        tier_host_memory: None,
        data_dirs: Vec::new(),
        gpu: None,
    }
}

fn kinds(a: &Assessment) -> Vec<(Kind, Option<Role>)> {
    a.findings.iter().map(|f| (f.kind, f.role)).collect()
}

#[test]
fn a_busy_db_is_undersized_at_p95_not_at_one_spike() {
    let roles = [
        (Role::Server, container("server", 0.5, 256 * MIB)),
        (Role::Db, container("db", 1.0, 768 * MIB)),
    ];
    // db: 20 ticks at 0.9 cores; server: one spike to 0.5 cores (100%) in 20 ticks.
    let w = window(&roles, 20, |role, i| match role {
        Role::Db => (0.9, 300 * MIB),
        _ if i == 7 => (0.5, 100 * MIB),
        _ => (0.05, 100 * MIB),
    });
    let a = assess(&w, host(), vec![Role::Redis, Role::Web]);
    assert_eq!(kinds(&a), vec![(Kind::UndersizedCpu, Some(Role::Db))]);
    assert_eq!(
        a.findings[0].evidence,
        "db: CPU p95 90% of its cpus limit (p50 90%, max 90%, 20 samples); the plan says under 70%"
    );
    let server = &a.roles[0];
    assert_eq!(server.role, Role::Server);
    let cpu = server.cpu.unwrap();
    assert_eq!((cpu.p50, cpu.p95, cpu.max), (0.1, 0.1, 1.0));
    assert_eq!(a.absent, vec![Role::Redis, Role::Web]);
    assert_eq!(a.samples, 20);
}

#[test]
fn memory_at_80_percent_of_the_limit_is_undersized() {
    let roles = [(Role::Web, container("web", 1.0, 100 * MIB))];
    let w = window(&roles, 4, |_, _| (0.1, 80 * MIB));
    let a = assess(&w, host(), vec![]);
    assert_eq!(kinds(&a), vec![(Kind::UndersizedMemory, Some(Role::Web))]);
}

#[test]
fn everything_under_30_percent_is_oversized_once_for_the_stack() {
    let roles = [
        (Role::Server, container("server", 1.0, 512 * MIB)),
        (Role::Db, container("db", 2.0, 1024 * MIB)),
    ];
    let w = window(&roles, 5, |_, _| (0.05, 100 * MIB));
    let a = assess(&w, host(), vec![]);
    assert_eq!(kinds(&a), vec![(Kind::Oversized, None)]);
    assert_eq!(
        a.findings[0].evidence,
        "every role is under 30% of its limits at p95 (server CPU 5% / memory 20%, db CPU 2% / memory 10%)"
    );
    // One role at 30% of one limit: not oversized.
    let w = window(&roles, 5, |r, _| {
        (if r == Role::Db { 0.6 } else { 0.05 }, 100 * MIB)
    });
    assert!(assess(&w, host(), vec![]).findings.is_empty());
    // Without limits it cannot be judged oversized.
    let unlimited = [(
        Role::Server,
        Container {
            limit_cpus: None,
            limit_memory: None,
            ..container("server", 1.0, 0)
        },
    )];
    let w = window(&unlimited, 5, |_, _| (0.01, MIB));
    let a = assess(&w, host(), vec![]);
    assert!(a.findings.is_empty(), "{:?}", a.findings);
    // Shares of the host instead: 0.01 of 2 cores.
    assert_eq!(a.roles[0].cpu.unwrap().p95, 0.005);
}

#[test]
fn hit_rate_is_measured_over_the_window_across_a_restart() {
    let roles = [(Role::Db, container("db", 1.0, 768 * MIB))];
    let mut w = window(&roles, 3, |_, _| (0.3, 300 * MIB));
    // Lifetime totals say 99% (10 of 1000); the window: 140 more disk reads in 1000 + 900
    // requests, the db restarting in between.
    w.mysql = Some(Mysql {
        pool_reads: vec![reading(10, 100), reading(110, 110), reading(40, 5)],
        pool_read_requests: vec![reading(1000, 100), reading(2000, 110), reading(900, 5)],
        slow_queries: vec![reading(0, 100), reading(0, 110), reading(2, 5)],
        max_used_connections: 190,
        max_connections: 200,
        pool_bytes: 128 * MIB,
        data_bytes: Some(200 * MIB),
        query_ms: vec![1.0, 3.0, 2.0],
    });
    let a = assess(&w, host(), vec![]);
    let m = a.mysql.as_ref().unwrap();
    assert_eq!(
        (m.pool_reads, m.pool_read_requests),
        (Some(140), Some(1900))
    );
    assert!((m.hit_rate.unwrap() - (1.0 - 140.0 / 1900.0)).abs() < 1e-12);
    assert_eq!((m.slow_queries, m.query_ms), (Some(2), Some(3.0)));
    assert_eq!(
        kinds(&a),
        vec![
            (Kind::BufferPoolHitRate, Some(Role::Db)),
            (Kind::BufferPoolSmall, Some(Role::Db)),
            (Kind::ConnectionsNearLimit, Some(Role::Db)),
        ]
    );
    assert_eq!(
        a.findings[0].evidence,
        "db: buffer pool hit rate 92.6% over the window (140 of 1900 page reads went to disk); the plan says 95% or more"
    );
}

#[test]
fn redis_evicting_in_the_window_and_not_before() {
    let roles = [(Role::Redis, container("redis", 0.5, 128 * MIB))];
    let mut w = window(&roles, 2, |_, _| (0.01, 70 * MIB));
    w.redis = Some(Redis {
        used_memory: vec![66 * MIB, 67 * MIB],
        maxmemory: 64 * MIB,
        evicted_keys: vec![reading(500, 10), reading(620, 12)],
        keyspace_hits: vec![reading(10, 10), reading(100, 12)],
        keyspace_misses: vec![reading(0, 10), reading(10, 12)],
    });
    let a = assess(&w, host(), vec![]);
    let r = a.redis.as_ref().unwrap();
    assert_eq!(r.evicted_keys, Some(120));
    assert_eq!(r.hit_ratio, Some(0.9));
    assert_eq!(kinds(&a), vec![(Kind::RedisEvicting, Some(Role::Redis))]);
    assert_eq!(
        a.findings[0].evidence,
        "redis: 120 keys evicted in the window (used_memory 67M, maxmemory 64M)"
    );
    // Evictions before the window only: nothing.
    w.redis.as_mut().unwrap().evicted_keys = vec![reading(500, 10), reading(500, 12)];
    assert!(assess(&w, host(), vec![]).findings.is_empty());
}

#[test]
fn slow_round_trips_and_a_spinning_disk() {
    let roles = [(Role::Web, container("web", 1.0, 512 * MIB))];
    let mut w = window(&roles, 2, |_, _| (0.4, 200 * MIB));
    w.http.push(HttpProbe {
        role: Role::Web,
        what: "manager API".into(),
        url: "http://127.0.0.1:8002/xiaozhi/".into(),
        status: Some(200),
        ms: Some(650.0),
        error: None,
    });
    let mut h = host();
    h.data_dirs.push(DataDir {
        role: Role::Web,
        path: "/srv/uploadfile".into(),
        rotational: Some(true),
    });
    h.data_dirs.push(DataDir {
        role: Role::Db,
        path: "/srv/mysql".into(),
        rotational: Some(false),
    });
    let a = assess(&w, h, vec![]);
    assert_eq!(
        kinds(&a),
        vec![
            (Kind::SlowApi, Some(Role::Web)),
            (Kind::SlowDisk, Some(Role::Web))
        ]
    );
    assert_eq!(
        a.findings[1].evidence,
        "web: its data dir `/srv/uploadfile` is on a rotational disk"
    );
}

#[test]
fn a_role_without_samples_is_reported_not_judged() {
    let mut stopped = container("db", 1.0, 768 * MIB);
    stopped.running = false;
    let w = window(&[(Role::Db, stopped)], 0, |_, _| (0.0, 0));
    let a = assess(&w, host(), vec![]);
    assert!(a.roles[0].cpu.is_none());
    assert!(a.findings.is_empty());
}
