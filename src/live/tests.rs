//! The live-ability decision and the `docker update` flags.

use std::collections::BTreeMap;

use super::set::Part;
use super::*;
use crate::units::Memory;

const MIB: u64 = 1 << 20;

fn mem(text: &str) -> Memory {
    Memory::parse_compose(text).unwrap()
}

/// A container created with limits 256M / 0.5 cpus / 128M, as Docker shows it.
fn values(memory: u64) -> LiveValues {
    LiveValues {
        container: "c".into(),
        container_id: "id".into(),
        started_at: "t".into(),
        memory,
        memory_swap: 2 * memory as i64,
        nano_cpus: 500_000_000,
        memory_reservation: 128 * MIB,
        ..LiveValues::default()
    }
}

fn resources(limit: &str, cpus: &str, reserve: &str) -> ObservedResources {
    ObservedResources {
        limit_cpus: Some(Cpus::parse(cpus).unwrap()),
        limit_memory: Some(mem(limit)),
        reserve_cpus: None,
        reserve_memory: Some(mem(reserve)),
    }
}

fn mariadb(minor: u32) -> DbServer {
    DbServer {
        mariadb: true,
        version: (10, minor, 6),
    }
}

fn db_running(db: DbServer) -> Running {
    let mut v = values(768 * MIB);
    v.mysql = BTreeMap::from([
        ("max_connections".to_string(), "200".to_string()),
        (
            "innodb_buffer_pool_size".to_string(),
            (128 * MIB).to_string(),
        ),
        ("innodb_log_file_size".to_string(), (48 * MIB).to_string()),
    ]);
    Running {
        values: Some(v),
        usage: Some(200 * MIB),
        db: Some(db),
        unreadable: None,
    }
}

fn db_wanted() -> Wanted {
    Wanted {
        resources: resources("1G", "2", "512M"),
        mysql: ObservedMysql {
            max_connections: Some(400),
            innodb_buffer_pool_size: Some(mem("256M")),
            innodb_log_file_size: Some(mem("96M")),
        },
        redis: ObservedRedis::default(),
    }
}

fn settings(changes: &[Change]) -> Vec<(&str, bool)> {
    changes.iter().map(|c| (c.setting, c.is_live())).collect()
}

#[test]
fn the_db_on_mariadb_10_11_changes_everything_live() {
    let changes = decide(Role::Db, "db", &db_wanted(), &db_running(mariadb(11)));
    assert_eq!(
        settings(&changes),
        [
            ("memory limit", true),
            ("cpus limit", true),
            ("memory reservation", true),
            ("max_connections", true),
            ("innodb_buffer_pool_size", true),
            ("innodb_log_file_size", true),
        ]
    );
    assert_eq!(changes[0].describe(), "db memory limit 768M -> 1G");
    assert_eq!(
        changes[4].describe(),
        "db innodb_buffer_pool_size 128M -> 256M"
    );
}

#[test]
fn the_log_size_is_not_dynamic_on_older_servers() {
    let changes = decide(Role::Db, "db", &db_wanted(), &db_running(mariadb(6)));
    let log = changes.last().unwrap();
    assert_eq!(log.setting, "innodb_log_file_size");
    assert_eq!(
        log.not_live.as_deref(),
        Some("not dynamic before MariaDB 10.9 (MariaDB 10.6.6 runs)")
    );
    let mysql57 = DbServer {
        mariadb: false,
        version: (5, 7, 44),
    };
    let changes = decide(Role::Db, "db", &db_wanted(), &db_running(mysql57));
    assert_eq!(
        changes.last().unwrap().not_live.as_deref(),
        Some("not dynamic before MySQL 8.0.30 (MySQL 5.7.44 runs)")
    );
}

#[test]
fn mysql_8_0_30_sizes_the_redo_log_by_capacity_live() {
    let mysql = DbServer {
        mariadb: false,
        version: (8, 0, 36),
    };
    let mut running = db_running(mysql);
    let v = running.values.as_mut().unwrap();
    v.mysql
        .insert("innodb_redo_log_capacity".into(), (100 * MIB).to_string());
    let changes = decide(Role::Db, "db", &db_wanted(), &running);
    let log = changes.last().unwrap();
    assert_eq!(log.setting, "innodb_redo_log_capacity");
    assert_eq!((log.from.as_str(), log.to.as_str()), ("100M", "192M"));
    assert!(log.is_live());
    assert!(mysql.has_set_persist());
}

#[test]
fn a_memory_limit_below_what_the_container_uses_cannot_change_live() {
    let mut running = db_running(mariadb(11));
    running.usage = Some(300 * MIB);
    let mut want = db_wanted();
    want.resources = resources("256M", "1", "128M");
    let changes = decide(Role::Db, "db", &want, &running);
    assert_eq!(
        changes[0].describe(),
        "db memory limit 768M -> 256M: the container uses 300M now, above the new limit"
    );
    // Taking a limit away needs a restart too.
    want.resources.limit_memory = None;
    let changes = decide(Role::Db, "db", &want, &running);
    assert_eq!(
        changes[0].not_live.as_deref(),
        Some("taking a memory limit away needs a restart")
    );
}

#[test]
fn no_running_container_or_unreadable_variables_cannot_change_live() {
    let changes = decide(Role::Server, "srv", &db_wanted(), &Running::default());
    assert_eq!(
        changes[0].describe(),
        "srv container not running -> running: `srv` has no running container to change"
    );
    let mut running = db_running(mariadb(11));
    running.unreadable = Some("Access denied".into());
    let changes = decide(Role::Db, "db", &db_wanted(), &running);
    assert_eq!(
        changes.last().unwrap().not_live.as_deref(),
        Some("cannot read the server's variables: Access denied")
    );
}

#[test]
fn redis_parameters_change_live_and_equal_ones_are_left_alone() {
    let mut v = values(128 * MIB);
    v.redis = BTreeMap::from([
        ("maxmemory".to_string(), (64 * MIB).to_string()),
        ("maxmemory-policy".to_string(), "allkeys-lru".to_string()),
        ("save".to_string(), "3600 1".to_string()),
    ]);
    let running = Running {
        values: Some(v),
        usage: Some(10 * MIB),
        ..Running::default()
    };
    let want = Wanted {
        resources: resources("128M", "0.5", "160M"),
        mysql: ObservedMysql::default(),
        redis: ObservedRedis {
            maxmemory: Some(Memory::parse_redis("128mb").unwrap()),
            maxmemory_policy: Some("ALLKEYS-LRU".into()),
            save: vec!["900 1".into(), "300 10".into()],
        },
    };
    let changes = decide(Role::Redis, "redis", &want, &running);
    // The reservation equal to the limit is refused by Docker: not live.
    assert_eq!(
        settings(&changes),
        [
            ("memory reservation", false),
            ("maxmemory", true),
            ("save", true)
        ]
    );
    assert_eq!(
        changes[2].describe(),
        "redis save \"3600 1\" -> \"900 1 300 10\""
    );
}

#[test]
fn memory_swap_moves_with_the_limit() {
    // Created with a limit: swap twice the limit, and twice the new one after.
    let want = resources("1G", "1", "512M");
    let l = limits(&values(256 * MIB), &want);
    assert_eq!(
        l.argv(),
        [
            "--memory",
            "1073741824",
            "--memory-swap",
            "2147483648",
            "--cpus",
            "1",
            "--memory-reservation",
            "536870912"
        ]
    );
    // No swap (swap = memory): none after.
    let mut v = values(256 * MIB);
    v.memory_swap = v.memory as i64;
    assert_eq!(limits(&v, &want).memory_swap, Some(1 << 30));
    // Unlimited stays unlimited; an explicit allowance is kept above the new limit.
    v.memory_swap = -1;
    assert_eq!(limits(&v, &want).memory_swap, Some(-1));
    v.memory_swap = (256 + 100) as i64 * MIB as i64;
    assert_eq!(
        limits(&v, &want).memory_swap,
        Some((1024 + 100) * MIB as i64)
    );
    // Nothing differs: no flags.
    let same = resources("256M", "0.5", "128M");
    assert!(limits(&values(256 * MIB), &same).is_empty());
}

#[test]
fn the_way_back_sets_the_exact_old_values() {
    let before = values(256 * MIB);
    let mut now = values(1 << 30);
    now.nano_cpus = 1_000_000_000;
    let back = limits_back(&now, &before);
    assert_eq!(
        back.argv(),
        [
            "--memory",
            "268435456",
            "--memory-swap",
            "536870912",
            "--cpus",
            "0.5"
        ]
    );
    assert!(limits_back(&before, &before).is_empty());
}

#[test]
fn limits_grow_before_settings_and_shrink_after() {
    let db = Some(mariadb(11));
    let before = db_running(mariadb(11)).values.unwrap();
    let kinds = |parts: &[Part]| -> Vec<&'static str> {
        parts
            .iter()
            .map(|p| match p {
                Part::Limits(_) => "limits",
                Part::Mysql(_) => "mysql",
                Part::Redis(_) => "redis",
            })
            .collect()
    };
    assert_eq!(
        kinds(&parts(Role::Db, &before, &db_wanted(), db)),
        ["limits", "mysql"]
    );
    let mut small = db_wanted();
    small.resources = resources("512M", "1", "256M");
    let p = parts(Role::Db, &before, &small, db);
    assert_eq!(kinds(&p), ["mysql", "limits"]);
    let Part::Mysql(vars) = &p[0] else { panic!() };
    assert_eq!(
        vars,
        &[
            ("max_connections".to_string(), "400".to_string()),
            (
                "innodb_buffer_pool_size".to_string(),
                (256 * MIB).to_string()
            ),
            ("innodb_log_file_size".to_string(), (96 * MIB).to_string()),
        ]
    );
}

#[test]
fn server_versions_are_read_as_the_servers_print_them() {
    assert_eq!(
        DbServer::parse("10.11.18-MariaDB-0+deb12u1"),
        Some(mariadb(11)).map(|mut d| {
            d.version.2 = 18;
            d
        })
    );
    let mysql = DbServer::parse("8.0.30").unwrap();
    assert!(!mysql.mariadb && mysql.has_redo_log_capacity());
    assert!(!DbServer::parse("8.0.29").unwrap().has_redo_log_capacity());
    assert_eq!(DbServer::parse("garbage"), None);
}
