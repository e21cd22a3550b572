//! `apply --strategy live` end to end: the new limits and MariaDB/Redis settings set on the
//! running containers, with no restart. One stack walks five cases in turn (a stack takes
//! most of a test's time, and CI runs this under both Compose flavours):
//!
//! 1. seed → grow live: same container IDs and start times, the tier's values, no failed
//!    request on the server's port, data intact, outage 0;
//! 2. a failure after the first `docker update` (grow → seed): the old values back live,
//!    exit 3;
//! 3. a `docker restart` of the db: `status` says what reverted and the command that
//!    settles it, which brings it back;
//! 4. a Redis limit below what Redis uses cannot change live: refused, nothing changed;
//! 5. `--strategy auto` on it takes the restart path and says why.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::e2e_upgrade::{
    assert_on_grow, assert_on_seed, limits, newest_journal, seeded, step_status, xzup,
};
use crate::harness::docker_available;
use crate::stack::{DB, REDIS, SERVER, TestStack, WEB};

const MIB: u64 = 1 << 20;

/// Each service's container ID and `State.StartedAt`.
fn identities(stack: &TestStack) -> BTreeMap<String, (String, String)> {
    stack
        .containers()
        .into_iter()
        .map(|c| (c.service.clone().unwrap(), (c.id, c.started_at)))
        .collect()
}

fn mysql_var(stack: &TestStack, name: &str) -> String {
    stack.mysql(&format!("SELECT @@{name}")).trim().to_string()
}

fn redis_get(stack: &TestStack, name: &str) -> String {
    let redis = stack.container(REDIS).name;
    let out = stack
        .docker()
        .redis_cli(&redis, &["CONFIG", "GET", name])
        .unwrap();
    out.lines().nth(1).unwrap_or("").trim().to_string()
}

/// Requests the server's published port every 100 ms while `f` runs; (ok, failed).
fn probing<T>(f: impl FnOnce() -> T) -> (T, u64, u64) {
    let stop = AtomicBool::new(false);
    let (ok, failed) = (AtomicU64::new(0), AtomicU64::new(0));
    let out = std::thread::scope(|scope| {
        scope.spawn(|| {
            let addr: SocketAddr = "127.0.0.1:8000".parse().unwrap();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let answered = (|| {
                    let mut s =
                        TcpStream::connect_timeout(&addr, Duration::from_millis(90)).ok()?;
                    s.set_read_timeout(Some(Duration::from_millis(90))).ok()?;
                    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
                        .ok()?;
                    let mut head = [0u8; 5];
                    s.read_exact(&mut head).ok()?;
                    (&head == b"HTTP/").then_some(())
                })()
                .is_some();
                if answered { &ok } else { &failed }.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100).saturating_sub(started.elapsed()));
            }
        });
        let out = f();
        stop.store(true, Ordering::Relaxed);
        out
    });
    (out, ok.into_inner(), failed.into_inner())
}

fn status_json(stack: &TestStack) -> serde_json::Value {
    let out = xzup(stack)
        .args(["status", "--format", "json"])
        .run()
        .success();
    serde_json::from_str(&out.stdout).expect("JSON")
}

fn lines(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| a.iter().map(|l| l.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn e2e_live_tier_changes_restart_nothing_roll_back_live_and_settle() {
    if !docker_available() {
        return;
    }
    let (stack, rows, files) = seeded();
    live_apply_seed_to_grow(&stack, &rows, &files);
    failure_after_the_first_update_sets_the_old_values_back_live(&stack);
    status_settles_a_restarted_db(&stack, &rows);
    a_limit_below_usage_is_refused_and_auto_restarts(&stack, &rows, &files);
}

/// 1. seed → grow, live.
fn live_apply_seed_to_grow(stack: &TestStack, rows: &str, files: &str) {
    assert_on_seed(stack);
    let before = identities(stack);

    // The plan says it can all change live.
    let plan = xzup(stack)
        .args(["plan", "--tier", "grow", "--strategy", "live"])
        .run()
        .success();
    assert!(
        plan.stdout.contains("every setting can change live"),
        "{}",
        plan.stdout
    );

    let started = Instant::now();
    let (out, ok, failed) = probing(|| {
        xzup(stack)
            .args([
                "apply",
                "--tier",
                "grow",
                "--strategy",
                "live",
                "--verify-window",
                "1",
            ])
            .run()
    });
    let wall = started.elapsed();
    let out = out.success();
    eprintln!("live apply: {wall:?}, prober {ok} ok / {failed} failed");
    assert!(
        out.stdout.contains("Upgraded seed -> grow"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains("none taken: a live change touches no data"),
        "{}",
        out.stderr
    );
    assert_eq!(
        failed,
        0,
        "the server's port failed {failed} of {} requests",
        ok + failed
    );
    assert!(ok > 0);

    // Nothing restarted or recreated; everything at the tier's values.
    assert_eq!(identities(stack), before);
    assert_on_grow(stack);
    assert_eq!(
        mysql_var(stack, "innodb_log_file_size"),
        (96 * MIB).to_string()
    );
    assert_eq!(redis_get(stack, "save"), "900 1 300 10 60 10000");
    let redis = stack.container(REDIS);
    assert_eq!(
        redis.memory_swap,
        2 * 256 * MIB as i64,
        "swap moved with the limit"
    );
    assert_eq!(stack.checksum_rows(), rows);
    assert_eq!(stack.checksum_uploads(), files);

    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(journal["outcome"], "succeeded");
    assert_eq!(journal["schema"], 3);
    assert_eq!(journal["settings"]["strategy"], "live");
    assert_eq!(journal["downtime_ms"], 0);
    assert_eq!(step_status(&journal, "backup").as_deref(), Some("skipped"));
    assert_eq!(step_status(&journal, "down"), None);
    assert_eq!(
        journal["live_before"][DB]["memory"],
        768 * MIB,
        "the old values are in the journal"
    );
    let history = crate::e2e_upgrade::history(stack);
    assert_eq!(history[0]["downtime_ms"], 0, "history shows outage 0");

    // Set at run time: a restart of the db or redis container would revert them.
    let status = status_json(stack);
    let reverts = lines(&status["live"]["reverts_on_restart"]);
    assert!(
        reverts.iter().any(|l| l.starts_with(&format!("{DB} innodb_buffer_pool_size 256M was set at run time: a restart of the container gives 128M"))),
        "{reverts:?}"
    );
    assert!(lines(&status["live"]["differs"]).is_empty(), "{status}");
}

/// 2. grow → seed live, failing after the first `docker update`: back to grow, live.
fn failure_after_the_first_update_sets_the_old_values_back_live(stack: &TestStack) {
    let rows = stack.checksum_rows();
    let before = identities(stack);
    let out = xzup(stack)
        .env("XZUP_TEST_FAIL_AT", "middle:live-update")
        .args([
            "apply",
            "--tier",
            "seed",
            "--strategy",
            "live",
            "--verify-window",
            "1",
        ])
        .run()
        .code(3);
    assert!(
        out.stderr.contains("live-update") && out.stderr.contains("XZUP_TEST_FAIL_AT"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("rollback-live"), "{}", out.stderr);
    // The first update (the server's limits) was made, and undone: all at grow, nothing
    // restarted, swap as it was.
    assert_on_grow(stack);
    assert_eq!(identities(stack), before);
    assert_eq!(stack.container(SERVER).memory_swap, 2 * 512 * MIB as i64);
    assert_eq!(limits(stack, WEB), (512 * MIB, 1_000_000_000, 256 * MIB));
    assert_eq!(stack.checksum_rows(), rows);
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(journal["outcome"], "rolled-back");
    assert_eq!(
        step_status(&journal, "rollback-live").as_deref(),
        Some("done")
    );
    assert_eq!(journal["downtime_ms"], 0);
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(stack.dir().join(".xzup/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["tier"], "grow");
}

/// 3. After a `docker restart` of the db, `status` says what reverted and how to settle.
fn status_settles_a_restarted_db(stack: &TestStack, rows: &str) {
    // The db restarts (a crash, a reboot): its flags are the old ones again.
    let db = stack.container(DB).name;
    let restarted = std::process::Command::new("docker")
        .args(["restart", &db])
        .output()
        .unwrap();
    assert!(restarted.status.success(), "{restarted:?}");
    stack.wait_healthy();
    assert_eq!(
        mysql_var(stack, "innodb_buffer_pool_size"),
        (128 * MIB).to_string()
    );
    assert_eq!(
        limits(stack, DB),
        (1024 * MIB, 2_000_000_000, 512 * MIB),
        "limits stay"
    );
    let status = status_json(stack);
    let differs = lines(&status["live"]["differs"]);
    assert!(
        differs.contains(&format!(
            "{DB} innodb_buffer_pool_size runs 128M, the file says 256M"
        )),
        "{differs:?}"
    );
    assert!(
        differs.contains(&format!("{DB} max_connections runs 200, the file says 400")),
        "{differs:?}"
    );
    let text = xzup(stack).args(["status"]).run().success();
    assert!(text.stdout.contains("settle with `"), "{}", text.stdout);
    let settle = status["live"]["settle"].as_str().unwrap().to_string();
    assert!(
        settle.ends_with("-f docker-compose-grow.yml up -d"),
        "{settle}"
    );

    // The one command settles it: every value as the file says, nothing left to revert.
    let ran = std::process::Command::new("sh")
        .args(["-c", &settle])
        .current_dir(stack.dir())
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{settle}: {}",
        String::from_utf8_lossy(&ran.stderr)
    );
    stack.wait_healthy();
    assert_on_grow(stack);
    assert!(
        status_json(stack).get("live").is_none(),
        "nothing drifts after settling"
    );
    assert_eq!(stack.checksum_rows(), rows);
}

/// Fills Redis with about 40 MB of keys (its seed maxmemory is 64mb).
fn fill_redis(stack: &TestStack) {
    let redis = stack.container(REDIS).name;
    stack
        .docker()
        .redis_cli(
            &redis,
            &[
                "EVAL",
                "for i=1,220000 do redis.call('SET','k'..i,string.rep('x',120)) end return 1",
                "0",
            ],
        )
        .unwrap();
}

/// 4. and 5. A Redis limit below what Redis uses: live refused, auto restarts.
fn a_limit_below_usage_is_refused_and_auto_restarts(stack: &TestStack, rows: &str, files: &str) {
    fill_redis(stack);
    let before = identities(stack);
    let runs_before = crate::e2e_upgrade::history(stack).len();

    let plan = xzup(stack)
        .args(["plan", "--tier", "tight", "--strategy", "live"])
        .run()
        .success();
    assert!(
        plan.stdout.contains("memory limit") && plan.stdout.contains("above the new limit"),
        "{}",
        plan.stdout
    );

    let out = xzup(stack)
        .args([
            "apply",
            "--tier",
            "tight",
            "--strategy",
            "live",
            "--verify-window",
            "1",
        ])
        .run()
        .code(1);
    assert!(
        out.stderr.contains(&format!(
            "{REDIS} memory limit 256M -> 32M: the container uses"
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was changed"), "{}", out.stderr);
    assert_eq!(
        crate::e2e_upgrade::history(stack).len(),
        runs_before,
        "no run was started"
    );
    assert!(!stack.dir().join("docker-compose-tight.yml").exists());
    assert_eq!(identities(stack), before);
    assert_on_grow(stack);

    let started = Instant::now();
    let (out, ok, failed) = probing(|| {
        xzup(stack)
            .args([
                "apply",
                "--tier",
                "tight",
                "--strategy",
                "auto",
                "--verify-window",
                "1",
            ])
            .run()
    });
    // Beside the live apply's line: the restart path on the same stack.
    eprintln!(
        "restart-path apply: {:?}, prober {ok} ok / {failed} failed",
        started.elapsed()
    );
    let out = out.success();
    assert!(
        out.stderr
            .contains("--strategy auto takes the restart path: cannot change live:")
            && out.stderr.contains("above the new limit"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("ok      down"), "{}", out.stderr);
    assert_eq!(limits(stack, REDIS), (32 * MIB, 1_000_000_000, 16 * MIB));
    assert_ne!(identities(stack)[REDIS], before[REDIS], "recreated");
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(journal["settings"]["strategy"], "restart");
    assert!(
        journal["settings"]["strategy_note"]
            .as_str()
            .unwrap()
            .contains("above the new limit")
    );
    assert_eq!(stack.checksum_rows(), rows);
    assert_eq!(stack.checksum_uploads(), files);
}
