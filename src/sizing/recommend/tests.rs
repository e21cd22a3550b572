//! Recommendations on synthetic evidence, over the test tiers' shape (seed < grow).

use std::collections::BTreeMap;

use super::*;
use crate::tiers::CatalogSource;

const MIB: u64 = 1 << 20;

const TIERS: &str = r#"
[tiers.seed]
[tiers.seed.server]
limits       = { cpus = 0.5, memory = "256M" }
reservations = { cpus = 0.25, memory = "128M" }
[tiers.seed.web]
limits       = { cpus = 0.5, memory = "256M" }
reservations = { cpus = 0.25, memory = "128M" }
[tiers.seed.db]
limits       = { cpus = 1, memory = "768M" }
reservations = { cpus = 0.5, memory = "384M" }
max_connections         = 200
innodb_buffer_pool_size = "128M"
innodb_log_file_size    = "48M"
[tiers.seed.redis]
limits       = { cpus = 0.5, memory = "128M" }
reservations = { cpus = 0.25, memory = "64M" }
maxmemory        = "64mb"
maxmemory-policy = "allkeys-lru"

[tiers.grow]
[tiers.grow.server]
limits       = { cpus = 1, memory = "512M" }
reservations = { cpus = 0.5, memory = "256M" }
[tiers.grow.web]
limits       = { cpus = 1, memory = "512M" }
reservations = { cpus = 0.5, memory = "256M" }
[tiers.grow.db]
limits       = { cpus = 2, memory = "1G" }
reservations = { cpus = 1, memory = "512M" }
max_connections         = 400
innodb_buffer_pool_size = "256M"
innodb_log_file_size    = "96M"
[tiers.grow.redis]
limits       = { cpus = 1, memory = "256M" }
reservations = { cpus = 0.5, memory = "128M" }
maxmemory        = "128mb"
maxmemory-policy = "allkeys-lru"
"#;

fn catalog() -> Catalog {
    // Listed largest first: "smallest" is by the limits, not the file order.
    let (seed, grow) = TIERS.split_at(TIERS.find("[tiers.grow]").unwrap());
    Catalog::parse(&format!("{grow}\n{seed}"), CatalogSource::Embedded).unwrap()
}

fn usage(cores: f64, memory: u64, n: usize) -> Vec<Usage> {
    vec![Usage { cores, memory }; n]
}

fn on(tier: &str, roles: &[Role]) -> BTreeMap<Role, Option<String>> {
    roles.iter().map(|r| (*r, Some(tier.to_string()))).collect()
}

fn run(e: &Evidence, roles: &[Role], current: &str) -> Recommendation {
    recommend(
        &catalog(),
        e,
        roles,
        &on(current, roles),
        2,
        Some(Memory::from_bytes(8 << 30)),
        "xzup apply",
    )
}

fn tiers(r: &Recommendation) -> Vec<(Role, Option<&str>)> {
    r.roles
        .iter()
        .map(|c| (c.role, c.tier.as_deref()))
        .collect()
}

#[test]
fn a_busy_db_and_an_evicting_redis_get_the_larger_tier_alone() {
    let mut e = Evidence::default();
    e.usage.insert(Role::Server, usage(0.05, 40 * MIB, 10));
    e.usage.insert(Role::Web, usage(0.05, 40 * MIB, 10));
    // 0.98 cores: above 70% of seed's 1 cpu, within grow's 2.
    e.usage.insert(Role::Db, usage(0.98, 200 * MIB, 10));
    e.usage.insert(Role::Redis, usage(0.02, 70 * MIB, 10));
    e.evicting_at = Some(64 * MIB);
    let r = run(&e, &Role::ALL, "seed");
    assert_eq!(
        tiers(&r),
        vec![
            (Role::Server, Some("seed")),
            (Role::Db, Some("grow")),
            (Role::Redis, Some("grow")),
            (Role::Web, Some("seed")),
        ]
    );
    assert_eq!(r.stack_tier.as_deref(), Some("grow"));
    assert_eq!(r.commands, vec!["xzup apply --tier grow --only db,redis"]);
    let db = &r.roles[1];
    assert_eq!(
        db.reasons,
        vec![
            "CPU p95 0.98 cores over 10 samples: a cpus limit of at least 1.40 keeps it under 70%",
            "memory peak 200M: a limit of at least 250M keeps it under 80%",
            "→ grow (cpus 2, memory 1G, buffer pool 256M): the smallest tier that covers it",
        ]
    );
    assert_eq!(
        r.roles[2].reasons[2],
        "evicted keys at maxmemory 64M: a larger maxmemory"
    );
    assert_eq!(r.host_fit.as_deref(), Some("yes"));
}

#[test]
fn an_idle_stack_on_the_large_tier_gets_the_small_one() {
    let mut e = Evidence::default();
    for role in Role::ALL {
        e.usage.insert(role, usage(0.02, 50 * MIB, 6));
    }
    let r = run(&e, &Role::ALL, "grow");
    assert!(tiers(&r).iter().all(|(_, t)| *t == Some("seed")), "{r:?}");
    assert_eq!(r.commands, vec!["xzup apply --tier seed"]);
    // Already there: nothing to run.
    assert!(run(&e, &Role::ALL, "seed").commands.is_empty());
}

#[test]
fn the_buffer_pool_must_hold_the_data_where_a_tier_allows() {
    let mut e = Evidence::default();
    e.usage.insert(Role::Db, usage(0.1, 200 * MIB, 3));
    e.db_data = Some(200 * MIB);
    assert_eq!(
        tiers(&run(&e, &[Role::Db], "seed")),
        vec![(Role::Db, Some("grow"))]
    );
    // Larger than any tier's pool: not a constraint.
    e.db_data = Some(10 << 30);
    let r = run(&e, &[Role::Db], "seed");
    assert_eq!(tiers(&r), vec![(Role::Db, Some("seed"))]);
    assert!(
        r.roles[0].reasons[2].ends_with("larger than any tier's buffer pool: not a constraint")
    );
    // A low hit rate at 128M asks for a larger pool.
    e.db_data = None;
    e.low_hit_pool = Some(128 * MIB);
    assert_eq!(
        tiers(&run(&e, &[Role::Db], "seed")),
        vec![(Role::Db, Some("grow"))]
    );
}

#[test]
fn more_than_any_tier_gives_is_said_and_no_samples_is_no_verdict() {
    let mut e = Evidence::default();
    e.usage.insert(Role::Db, usage(1.9, 200 * MIB, 3));
    e.usage.insert(Role::Server, Vec::new());
    let r = run(&e, &[Role::Server, Role::Db], "seed");
    assert_eq!(
        tiers(&r),
        vec![(Role::Server, None), (Role::Db, Some("grow"))]
    );
    assert!(!r.roles[1].covered);
    assert_eq!(r.stack_tier, None);
    assert_eq!(r.commands, vec!["xzup apply --tier grow --only db"]);
    assert_eq!(
        r.roles[0].reasons,
        vec!["no samples of it: nothing to recommend from"]
    );
}

#[test]
fn evidence_from_record_lines() {
    let lines: Vec<Line> = [
        r#"{"t":10,"u":{"db":[500,1024]}}"#,
        r#"{"t":12,"u":{"db":[900,2048],"redis":[1,10]}}"#,
        r#"{"t":9,"w":3,"db":{"hit":0.9,"data":5000,"pool":134217728},"redis":{"ev":3,"max":67108864}}"#,
        r#"{"t":20,"w":3,"db":{"hit":0.99,"pool":268435456},"redis":{"ev":0,"max":134217728}}"#,
    ]
    .iter()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    let e = Evidence::from_lines(&lines);
    assert_eq!(e.usage[&Role::Db].len(), 2);
    assert_eq!(e.usage[&Role::Db][1].memory, 2048 * 1024);
    assert_eq!((e.span, e.windows, e.samples()), (Some((10, 12)), 2, 2));
    assert_eq!(e.db_data, Some(5000));
    assert_eq!(e.low_hit_pool, Some(128 * MIB));
    assert_eq!(e.evicting_at, Some(64 * MIB));
}
