//! `xzup history` and `xzup unlock` on hand-written journals and lock files: the journal
//! format is a contract (a newer xzup reads what an older one wrote), so these journals are
//! written out in full rather than produced by the code under test.

use std::fs;
use std::path::Path;

use crate::harness::Xzup;

/// An upgrade that went through: low → high.
pub(crate) const SUCCEEDED: &str = r#"{
  "schema": 1,
  "id": "20261124-100000-apply-high",
  "kind": "apply",
  "xzup_version": "0.1.0",
  "command": "xzup apply --tier high",
  "tier_from": "low",
  "tier_to": "high",
  "project": "xiaozhi-server",
  "compose_flavour": "v1",
  "previous_compose": { "path": "docker-compose_all.yml", "sha256": "aa" },
  "new_compose": { "path": "docker-compose-high.yml", "sha256": "bb" },
  "images_before": { "xiaozhi-esp32-server-db": "sha256:0123" },
  "backup": { "path": "backups/backup-20261124-100003.tar.gz", "size": 642777088, "sha256": null, "verified": true },
  "started_at": "2026-11-24T10:00:00.000Z",
  "finished_at": "2026-11-24T10:00:49.300Z",
  "steps": [
    { "step": "preflight", "status": "done", "attempts": 1, "started_at": "2026-11-24T10:00:00.000Z", "finished_at": "2026-11-24T10:00:00.800Z", "duration_ms": 800 },
    { "step": "down", "status": "done", "attempts": 1, "started_at": "2026-11-24T10:00:01.000Z", "finished_at": "2026-11-24T10:00:03.200Z", "duration_ms": 2200 },
    { "step": "backup", "status": "done", "attempts": 1, "started_at": "2026-11-24T10:00:03.200Z", "finished_at": "2026-11-24T10:00:06.600Z", "duration_ms": 3400 },
    { "step": "write-compose", "status": "done", "attempts": 1, "started_at": "2026-11-24T10:00:06.600Z", "finished_at": "2026-11-24T10:00:06.700Z", "duration_ms": 100 },
    { "step": "up", "status": "done", "attempts": 1, "started_at": "2026-11-24T10:00:06.700Z", "finished_at": "2026-11-24T10:00:18.700Z", "duration_ms": 12000 },
    { "step": "verify", "status": "done", "attempts": 1, "started_at": "2026-11-24T10:00:18.700Z", "finished_at": "2026-11-24T10:00:49.200Z", "duration_ms": 30500 },
    { "step": "commit", "status": "done", "attempts": 1, "started_at": "2026-11-24T10:00:49.200Z", "finished_at": "2026-11-24T10:00:49.300Z", "duration_ms": 100 }
  ],
  "outcome": "succeeded",
  "downtime_ms": 17700
}
"#;

/// An upgrade whose `up` failed, automatically rolled back.
const ROLLED_BACK: &str = r#"{
  "schema": 1,
  "id": "20261125-193000-apply-extreme",
  "kind": "apply",
  "xzup_version": "0.1.0",
  "command": "xzup apply --tier extreme --only server,db --force",
  "tier_from": "high",
  "tier_to": "extreme",
  "only": ["server", "db"],
  "backup": { "path": "backups/backup-20261125-193013.tar.gz", "size": 1288490189, "sha256": null, "verified": true },
  "started_at": "2026-11-25T19:30:00.000Z",
  "finished_at": "2026-11-25T19:30:31.000Z",
  "steps": [
    { "step": "preflight", "status": "done", "attempts": 1, "started_at": "2026-11-25T19:30:00.000Z", "finished_at": "2026-11-25T19:30:01.000Z", "duration_ms": 1000 },
    { "step": "down", "status": "done", "attempts": 1, "started_at": "2026-11-25T19:30:01.000Z", "finished_at": "2026-11-25T19:30:13.000Z", "duration_ms": 12000 },
    { "step": "backup", "status": "done", "attempts": 1, "started_at": "2026-11-25T19:30:13.000Z", "finished_at": "2026-11-25T19:30:16.500Z", "duration_ms": 3500 },
    { "step": "write-compose", "status": "done", "attempts": 1, "started_at": "2026-11-25T19:30:16.500Z", "finished_at": "2026-11-25T19:30:16.600Z", "duration_ms": 100 },
    { "step": "up", "status": "failed", "attempts": 1, "started_at": "2026-11-25T19:30:16.600Z", "finished_at": "2026-11-25T19:30:17.600Z", "duration_ms": 1000, "error": "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available" },
    { "step": "rollback-down", "status": "done", "attempts": 1, "started_at": "2026-11-25T19:30:17.600Z", "finished_at": "2026-11-25T19:30:18.000Z", "duration_ms": 400 },
    { "step": "rollback-restore-data", "status": "skipped", "attempts": 0, "started_at": "2026-11-25T19:30:18.000Z", "finished_at": "2026-11-25T19:30:18.000Z", "duration_ms": 0, "detail": "no data-bearing image changed" },
    { "step": "rollback-activate", "status": "done", "attempts": 1, "started_at": "2026-11-25T19:30:18.000Z", "finished_at": "2026-11-25T19:30:18.100Z", "duration_ms": 100 },
    { "step": "rollback-up", "status": "done", "attempts": 1, "started_at": "2026-11-25T19:30:18.100Z", "finished_at": "2026-11-25T19:30:30.100Z", "duration_ms": 12000 },
    { "step": "rollback-check", "status": "done", "attempts": 1, "started_at": "2026-11-25T19:30:30.100Z", "finished_at": "2026-11-25T19:30:31.000Z", "duration_ms": 900 }
  ],
  "rollback_reason": "up failed",
  "outcome": "rolled-back",
  "downtime_ms": 30000,
  "warnings": ["--force: cpus 4 of `xiaozhi-esp32-server` exceed the host's 2 cores"]
}
"#;

/// An upgrade killed during its backup.
pub(crate) const INTERRUPTED: &str = r#"{
  "schema": 1,
  "id": "20261126-080000-apply-ultra",
  "kind": "apply",
  "xzup_version": "0.1.0",
  "command": "xzup apply --tier ultra",
  "tier_from": "high",
  "tier_to": "ultra",
  "started_at": "2026-11-26T08:00:00.000Z",
  "steps": [
    { "step": "preflight", "status": "done", "attempts": 1, "started_at": "2026-11-26T08:00:00.000Z", "finished_at": "2026-11-26T08:00:00.500Z", "duration_ms": 500 },
    { "step": "down", "status": "done", "attempts": 1, "started_at": "2026-11-26T08:00:00.500Z", "finished_at": "2026-11-26T08:00:02.500Z", "duration_ms": 2000 },
    { "step": "backup", "status": "started", "attempts": 1, "started_at": "2026-11-26T08:00:02.500Z" }
  ],
  "outcome": "in-progress"
}
"#;

pub(crate) const SUCCEEDED_TEXT: &str = "\
2026-11-24 10:00:00  apply  low → high  succeeded
  run       20261124-100000-apply-high
  steps     preflight 0.8s, down 2.2s, backup 3.4s, write-compose 0.1s, up 12.0s, verify 30.5s, commit 0.1s
  downtime  17.7s
  backup    backups/backup-20261124-100003.tar.gz (613M, verified)
";

const ROLLED_BACK_TEXT: &str = "\
2026-11-25 19:30:00  apply  high → extreme (only server, db)  rolled back
  run       20261125-193000-apply-extreme
  steps     preflight 1.0s, down 12.0s, backup 3.5s, write-compose 0.1s, up failed after 1.0s, rollback-down 0.4s, rollback-restore-data skipped, rollback-activate 0.1s, rollback-up 12.0s, rollback-check 0.9s
  downtime  30.0s
  backup    backups/backup-20261125-193013.tar.gz (1.2G, verified)
  error     up: Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available
  rollback  up failed
  warning   --force: cpus 4 of `xiaozhi-esp32-server` exceed the host's 2 cores
";

/// Writes `journal` as `DIR/.xzup/runs/<id>/journal.json`.
pub(crate) fn put_journal(dir: &Path, id: &str, journal: &str) {
    let run_dir = dir.join(".xzup/runs").join(id);
    fs::create_dir_all(&run_dir).unwrap();
    fs::write(run_dir.join("journal.json"), journal).unwrap();
}

/// `xzup ARGS` in `dir`, times shown in UTC.
fn xzup(dir: &Path, args: &[&str]) -> crate::harness::Outcome {
    Xzup::new().cwd(dir).env("TZ", "UTC").args(args).run()
}

#[test]
fn history_lists_runs_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    put_journal(dir.path(), "20261124-100000-apply-high", SUCCEEDED);
    put_journal(dir.path(), "20261125-193000-apply-extreme", ROLLED_BACK);

    let out = xzup(dir.path(), &["history"]).success();
    assert_eq!(out.stdout, format!("{ROLLED_BACK_TEXT}\n{SUCCEEDED_TEXT}"));
    assert_eq!(out.stderr, "");
}

#[test]
fn history_marks_an_interrupted_run_and_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    put_journal(dir.path(), "20261124-100000-apply-high", SUCCEEDED);
    put_journal(dir.path(), "20261126-080000-apply-ultra", INTERRUPTED);

    let out = xzup(dir.path(), &["history"]).success();
    let interrupted = "\
2026-11-26 08:00:00  apply  high → ultra  unfinished
  run       20261126-080000-apply-ultra
  steps     preflight 0.5s, down 2.0s, backup interrupted
  downtime  not back up
";
    assert_eq!(out.stdout, format!("{interrupted}\n{SUCCEEDED_TEXT}"));
    assert_eq!(
        out.stderr,
        "warning: run `20261126-080000-apply-ultra` did not finish: `xzup resume` continues it, `xzup rollback` returns to the stack as it was before it\n"
    );

    // While a process holds the lock, the run is running, not interrupted.
    let _lock = xzup::lock::Lock::acquire(&dir.path().join(".xzup"), "apply").unwrap();
    let out = xzup(dir.path(), &["history"]).success();
    assert!(
        out.stdout.starts_with(
            "2026-11-26 08:00:00  apply  high → ultra  running\n  run       20261126-080000-apply-ultra\n  steps     preflight 0.5s, down 2.0s, backup running\n"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(out.stderr, "");
}

#[test]
fn history_as_json_is_one_document_with_the_journals() {
    let dir = tempfile::tempdir().unwrap();
    put_journal(dir.path(), "20261124-100000-apply-high", SUCCEEDED);
    put_journal(dir.path(), "20261125-193000-apply-extreme", ROLLED_BACK);

    let out = xzup(dir.path(), &["history", "--format", "json"]).success();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let ids: Vec<&str> = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "20261125-193000-apply-extreme",
            "20261124-100000-apply-high"
        ]
    );
    let newest = &doc["runs"][0];
    assert_eq!(newest["outcome"], "rolled-back");
    assert_eq!(newest["downtime_ms"], 30000);
    assert_eq!(newest["steps"][4]["step"], "up");
    assert_eq!(newest["steps"][4]["status"], "failed");
    assert_eq!(doc["unreadable"], serde_json::json!([]));
}

#[test]
fn history_of_a_deployment_without_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = xzup(dir.path(), &["history"]).success();
    assert_eq!(out.stdout, "no runs yet\n");
    assert_eq!(out.stderr, "");
    assert!(
        !dir.path().join(".xzup").exists(),
        "history creates nothing"
    );

    let out = xzup(dir.path(), &["history", "--format", "json"]).success();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc, serde_json::json!({ "runs": [], "unreadable": [] }));
}

#[test]
fn history_shows_the_readable_runs_and_names_a_damaged_journal() {
    let dir = tempfile::tempdir().unwrap();
    put_journal(dir.path(), "20261124-100000-apply-high", SUCCEEDED);
    put_journal(dir.path(), "20261125-193000-apply-extreme", "{ not json");

    let out = xzup(dir.path(), &["history"]).success();
    assert_eq!(out.stdout, SUCCEEDED_TEXT);
    let bad_dir = dir.path().join(".xzup/runs/20261125-193000-apply-extreme");
    let bad_dir = bad_dir.canonicalize().unwrap();
    assert_eq!(
        out.stderr,
        format!(
            "warning: the journal `{0}/journal.json` is damaged: key must be a string at line 1 column 3\n  hint: xzup writes journals atomically, so something else changed this file; look at it, and if that run no longer matters move its directory out of the way: `mv {0} /tmp/`\n",
            bad_dir.display()
        )
    );
}

/// A pid no process has: a child that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn unlock_clears_a_stale_lock() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".xzup");
    fs::create_dir(&state).unwrap();
    let pid = dead_pid();
    let host = xzup::lock::hostname();
    fs::write(
        state.join("lock"),
        format!(
            r#"{{"pid":{pid},"host":"{host}","command":"apply","started_at":"2026-11-25T19:30:00.000Z"}}"#
        ),
    )
    .unwrap();

    let out = xzup(dir.path(), &["unlock"]).success();
    assert_eq!(
        out.stdout,
        format!(
            "cleared the stale lock of a run that ended without releasing it (pid {pid} on `{host}`, `xzup apply`, since 2026-11-25 19:30:00)\n"
        )
    );
    assert_eq!(out.stderr, "");
    assert_eq!(fs::read(state.join("lock")).unwrap(), b"");

    let out = xzup(dir.path(), &["unlock"]).success();
    assert_eq!(out.stdout, "no lock: nothing to clear\n");
}

#[test]
fn unlock_without_a_lock_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = xzup(dir.path(), &["unlock"]).success();
    assert_eq!(out.stdout, "no lock: nothing to clear\n");
    assert_eq!(out.stderr, "");

    let out = xzup(dir.path(), &["unlock", "--format", "json"]).success();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc, serde_json::json!({ "action": "none", "lock": null }));
}

#[test]
fn unlock_refuses_a_live_lock_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".xzup");
    // This test process is the live holder.
    let guard = xzup::lock::Lock::acquire(&state, "apply").unwrap();
    let record = guard.record().clone();
    // The xzup below shows times in UTC (TZ=UTC); this process's zone may differ.
    let since_utc = record.started_at.format("%Y-%m-%d %H:%M:%S").to_string();

    let out = xzup(dir.path(), &["unlock"]).code(1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "error: another xzup run holds the lock of this deployment: `xzup apply` (pid {0} on `{1}`), since {since_utc}\n\
             hint: wait for that run to finish (`xzup status` shows it); if process {0} hangs, stop it, and its lock goes with it; `xzup unlock --force` would only remove the lock file, not stop that run\n",
            record.pid, record.host
        )
    );
    assert!(state.join("lock").exists());

    let out = xzup(dir.path(), &["unlock", "--force"]).success();
    assert_eq!(
        out.stdout,
        format!(
            "removed the lock file of a run that still holds it (pid {} on `{}`, `xzup apply`, since {since_utc})\n",
            record.pid, record.host
        )
    );
    assert_eq!(
        out.stderr,
        format!(
            "warning: process {} keeps running, and a new run will no longer wait for it: stop it before you start another\n",
            record.pid
        )
    );
    assert!(!state.join("lock").exists());
    drop(guard);
}
