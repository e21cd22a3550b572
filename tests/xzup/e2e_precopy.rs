//! `apply --backup-mode precopy` end to end: the data copied while the stack runs (rows
//! being inserted), brought to the stopped state after `down`, archived from the staging
//! copy once the new stack is up. The archive must hold exactly what MariaDB had when it
//! stopped; a kill during the archive step is finished by `resume`, or undone by
//! `rollback`, which restores from the staging copy.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::e2e_engine_faults::Tmpfs;
use crate::e2e_upgrade::{
    assert_on_grow, assert_on_seed, container_ids, kill_at, newest_journal, seeded, spawn_paused,
    step_status, xzup,
};
use crate::harness::docker_available;
use crate::stack::{DATABASE, DB, MYSQL_ROOT_PASSWORD, TABLE, TestStack};

const PRECOPY: [&str; 6] = [
    "apply",
    "--tier",
    "grow",
    "--backup-mode",
    "precopy",
    "--verify-window",
];

fn precopy_args() -> Vec<&'static str> {
    let mut args = PRECOPY.to_vec();
    args.push("1");
    args
}

fn staging(stack: &TestStack, journal: &serde_json::Value) -> std::path::PathBuf {
    stack
        .dir()
        .join(".xzup/runs")
        .join(journal["id"].as_str().unwrap())
        .join("staging")
}

/// The rows of [`TABLE`] in a MariaDB started on `datadir` (a restored archive's copy).
fn rows_in_datadir(datadir: &Path) -> u64 {
    let name = format!("xzup-e2e-precopy-check-{}", std::process::id());
    let _ = Command::new("docker").args(["rm", "-f", &name]).output();
    let started = Command::new("docker")
        .args(["run", "-d", "--name", &name, "-e"])
        .arg(format!("MYSQL_ROOT_PASSWORD={MYSQL_ROOT_PASSWORD}"))
        .arg("-v")
        .arg(format!("{}:/var/lib/mysql", datadir.display()))
        .arg("mysql:latest")
        .output()
        .unwrap();
    assert!(started.status.success(), "{started:?}");
    let deadline = Instant::now() + Duration::from_secs(180);
    let count = loop {
        let out = Command::new("docker")
            .args(["exec", "-e"])
            .arg(format!("MYSQL_PWD={MYSQL_ROOT_PASSWORD}"))
            .args([&name, "mysql", "--user=root", "-N", "-B", "-e"])
            .arg(format!("SELECT COUNT(*) FROM {DATABASE}.{TABLE}"))
            .output()
            .unwrap();
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<u64>()
                .unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "MariaDB on the restored datadir never answered: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let _ = Command::new("docker").args(["rm", "-f", &name]).output();
    count
}

#[test]
fn e2e_precopy_apply_under_writes_archives_exactly_the_stopped_state() {
    if !docker_available() {
        return;
    }
    let (stack, _rows, files) = seeded();
    let before = stack.row_count();
    let stop = AtomicBool::new(false);
    let inserted = AtomicU64::new(0);
    let out = std::thread::scope(|scope| {
        // The light write load: one row at a time until the database stops answering.
        let writer = scope.spawn(|| {
            let db = stack.container(DB).name;
            while !stop.load(Ordering::Relaxed) {
                let sql = format!("USE {DATABASE}; INSERT INTO {TABLE} (payload) VALUES ('live')");
                match stack.docker().mysql(&db, "root", MYSQL_ROOT_PASSWORD, &sql) {
                    Ok(_) => inserted.fetch_add(1, Ordering::Relaxed),
                    Err(_) => break,
                };
            }
        });
        let out = xzup(&stack).args(precopy_args()).run();
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        out
    });
    let out = out.success();
    assert!(
        out.stdout.contains("Upgraded seed -> grow"),
        "{}",
        out.stdout
    );
    let written = inserted.load(Ordering::Relaxed);
    assert!(written > 0, "no row was inserted while the pre-copy ran");
    assert_on_grow(&stack);
    // The new stack runs on the datadir as it stopped: every acknowledged row (one more
    // when the insert cut by `down` had committed).
    let at_down = stack.row_count();
    assert!(
        at_down == before + written || at_down == before + written + 1,
        "{at_down} rows, {before} + {written} inserted"
    );
    assert_eq!(stack.checksum_uploads(), files);

    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(journal["outcome"], "succeeded");
    assert_eq!(journal["schema"], 2);
    assert_eq!(journal["settings"]["backup"]["mode"], "precopy");
    for step in [
        "precopy", "down", "delta", "up", "archive", "verify", "commit",
    ] {
        assert_eq!(
            step_status(&journal, step).as_deref(),
            Some("done"),
            "{step}"
        );
    }
    assert_eq!(step_status(&journal, "backup").as_deref(), Some("skipped"));
    assert_eq!(journal["backup"]["verified"], true);
    assert!(!staging(&stack, &journal).exists(), "staging removed");
    // The outage is down + delta + write-compose + up: no archive in it.
    let parts: Vec<&str> = journal["outage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["step"].as_str().unwrap())
        .collect();
    assert_eq!(parts, ["down", "delta", "write-compose", "up"]);

    // The archive restores to exactly the stopped state.
    let archive = stack
        .dir()
        .join(journal["backup"]["path"].as_str().unwrap());
    let restored = tempfile::tempdir().unwrap();
    let to = restored.path().join("out");
    xzup(&stack)
        .args(["restore", archive.to_str().unwrap()])
        .arg_path("--to", &to)
        .run()
        .success();
    assert_eq!(rows_in_datadir(&to.join("mysql/data")), at_down);
}

#[test]
fn e2e_precopy_killed_during_the_archive_then_resumed_commits() {
    if !docker_available() {
        return;
    }
    let (stack, rows, files) = seeded();
    let child = spawn_paused(&stack, &precopy_args(), "archive");
    kill_at(child, stack.dir(), "archive");
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(journal["outcome"], "in-progress");
    assert!(journal["backup"].is_null(), "no archive yet");
    assert!(staging(&stack, &journal).join("mysql/data").is_dir());

    let out = xzup(&stack).args(["resume"]).run().success();
    assert!(
        out.stdout.contains("Upgraded seed -> grow"),
        "{}",
        out.stdout
    );
    assert_on_grow(&stack);
    assert_eq!(stack.checksum_rows(), rows);
    assert_eq!(stack.checksum_uploads(), files);
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(journal["outcome"], "succeeded");
    assert_eq!(step_status(&journal, "archive").as_deref(), Some("done"));
    assert_eq!(journal["backup"]["verified"], true);
    assert!(!staging(&stack, &journal).exists(), "staging removed");
}

#[test]
fn e2e_precopy_killed_during_the_archive_then_rolled_back_from_staging() {
    if !docker_available() {
        return;
    }
    let (stack, rows, files) = seeded();
    let child = spawn_paused(&stack, &precopy_args(), "archive");
    kill_at(child, stack.dir(), "archive");
    // The new stack ran meanwhile: rows it wrote must go with the rollback.
    stack.insert_rows(7);
    assert_ne!(stack.checksum_rows(), rows);

    let out = xzup(&stack)
        .args(["rollback", "--restore-data", "always"])
        .run()
        .success();
    assert!(out.stdout.contains("back on seed"), "{}", out.stdout);
    assert_on_seed(&stack);
    assert_eq!(stack.checksum_rows(), rows, "the data as it was at down");
    assert_eq!(stack.checksum_uploads(), files);
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(journal["outcome"], "rolled-back");
    let restore = journal["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "rollback-restore-data")
        .unwrap();
    assert_eq!(restore["status"], "done");
    assert!(
        restore["detail"]
            .as_str()
            .unwrap()
            .contains("archive made from the staging copy"),
        "{restore}"
    );
    assert_eq!(journal["backup"]["verified"], true);
    assert!(!staging(&stack, &journal).exists(), "staging removed");
}

#[test]
fn e2e_precopy_without_room_for_the_copy_falls_back_to_direct_or_refuses_when_asked() {
    if !docker_available() {
        return;
    }
    let (stack, rows, files) = seeded();
    // The run dirs (where the staging copy goes) on a tmpfs too small for the data; the
    // archive goes to `backups/`, on the deployment's own filesystem, where it fits.
    let _small = Tmpfs::mount(&stack.dir().join(".xzup"), "4m");
    let ids = container_ids(&stack);

    // Asked for by name: refused before anything stops.
    let out = xzup(&stack).args(precopy_args()).run().code(1);
    assert!(
        out.stderr
            .contains("cannot pre-copy: not enough free space for the staging copy in `"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("nothing was changed (run with --backup-mode direct)"),
        "{}",
        out.stderr
    );
    assert_eq!(container_ids(&stack), ids, "the stack was not touched");
    assert_on_seed(&stack);
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(journal["outcome"], "failed", "{journal}");
    assert_eq!(step_status(&journal, "down"), None, "{journal}");

    // The default: a direct backup instead, said and journaled.
    let out = xzup(&stack)
        .args(["apply", "--tier", "grow", "--verify-window", "1"])
        .run()
        .success();
    assert!(
        out.stderr.contains(
            "no pre-copy, the backup is made while the stack is down: not enough free space for the staging copy in `"
        ),
        "{}",
        out.stderr
    );
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(journal["outcome"], "succeeded", "{journal}");
    assert_eq!(journal["settings"]["backup"]["mode"], "precopy");
    for (step, status) in [
        ("precopy", "done"),
        ("delta", "skipped"),
        ("backup", "done"),
        ("archive", "skipped"),
        ("commit", "done"),
    ] {
        assert_eq!(
            step_status(&journal, step).as_deref(),
            Some(status),
            "{step}: {journal}"
        );
    }
    assert_eq!(journal["backup"]["verified"], true);
    assert_on_grow(&stack);
    assert_eq!(stack.checksum_rows(), rows);
    assert_eq!(stack.checksum_uploads(), files);
}
