//! The upgrade end to end, on a real engine with real MariaDB and Redis: apply, automatic
//! rollback (preflight refusal, `up` failure, verify failure), kill -9 and resume, manual
//! rollback, the lock. Each stack starts on the `seed` tier of `fixtures/e2e-tiers.toml`
//! with rows in MariaDB and files in uploadfile, which must be intact at the end.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Outcome, Xzup, docker_available, repo_root};
use crate::stack::{self, DB, REDIS, SERVER, TestStack, WEB};

const MIB: u64 = 1 << 20;

pub(crate) fn tiers_file() -> PathBuf {
    repo_root().join("tests/xzup/fixtures/e2e-tiers.toml")
}

/// The upstream file (1 s healthchecks) on the seed tier: where every upgrade starts.
pub(crate) fn seed_text() -> String {
    on_tier(&stack::upstream_fast(), "seed")
}

/// Compose `text` with `tier` of the test tiers rendered in, by xzup itself (`render -o`
/// writes the file unredacted).
pub(crate) fn on_tier(text: &str, tier: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(stack::COMPOSE_FILE), text).unwrap();
    let out = dir.path().join("seed.yml");
    Xzup::new()
        .arg_path("-C", dir.path())
        .arg_path("--tiers-file", &tiers_file())
        .args(["render", "--tier", tier])
        .arg_path("-o", &out)
        .run()
        .success();
    std::fs::read_to_string(out).unwrap()
}

/// A healthy seed stack with data, and the checksums of that data.
pub(crate) fn seeded() -> (TestStack, String, String) {
    let stack = TestStack::new(&seed_text());
    stack.insert_rows(500);
    stack.write_upload_files(20);
    let rows = stack.checksum_rows();
    let files = stack.checksum_uploads();
    (stack, rows, files)
}

/// `xzup` in the stack's dir, with the stack's Compose flavour and the test tiers.
pub(crate) fn xzup(stack: &TestStack) -> Xzup {
    Xzup::new()
        .cwd(stack.dir())
        .env("XZUP_COMPOSE", stack.flavour().as_str())
        .arg_path("--tiers-file", &tiers_file())
}

/// The same as a child process we can kill, paused at `step` (`XZUP_TEST_PAUSE_AT`, a
/// hook only a build with the `test-hooks` feature has).
pub(crate) fn spawn_paused(stack: &TestStack, args: &[&str], step: &str) -> std::process::Child {
    if !cfg!(feature = "test-hooks") {
        panic!(
            "this test pauses xzup at a step: build with `--features test-hooks` (scripts/test.sh does)"
        );
    }
    Command::new(env!("CARGO_BIN_EXE_xzup"))
        .current_dir(stack.dir())
        .env("XZUP_COMPOSE", stack.flavour().as_str())
        .env("XZUP_TEST_PAUSE_AT", step)
        .env("NO_COLOR", "1")
        .arg("--tiers-file")
        .arg(tiers_file())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xzup starts")
}

/// The newest journal of the stack's deployment.
pub(crate) fn newest_journal(dir: &Path) -> Option<serde_json::Value> {
    let runs = dir.join(".xzup/runs");
    let mut ids: Vec<_> = std::fs::read_dir(runs)
        .ok()?
        .filter_map(|e| e.ok())
        .collect();
    ids.sort_by_key(|e| e.file_name());
    let text = std::fs::read_to_string(ids.last()?.path().join("journal.json")).ok()?;
    serde_json::from_str(&text).ok()
}

pub(crate) fn step_status(journal: &serde_json::Value, step: &str) -> Option<String> {
    journal["steps"]
        .as_array()?
        .iter()
        .find(|s| s["step"] == step)
        .and_then(|s| s["status"].as_str().map(str::to_string))
}

/// Waits until the newest journal has `step` started, then kills the process (SIGKILL).
pub(crate) fn kill_at(mut child: std::process::Child, dir: &Path, step: &str) {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let status = newest_journal(dir).and_then(|j| step_status(&j, step));
        if status.as_deref() == Some("started") {
            break;
        }
        if let Ok(Some(exit)) = child.try_wait() {
            panic!("xzup ended ({exit}) before reaching `{step}`");
        }
        assert!(Instant::now() < deadline, "`{step}` never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
}

/// Memory limit, nano-cpus and memory reservation of `service`'s container.
pub(crate) fn limits(stack: &TestStack, service: &str) -> (u64, i64, u64) {
    let c = stack.container(service);
    (c.memory, c.nano_cpus, c.memory_reservation)
}

fn mysql_settings(stack: &TestStack) -> String {
    stack
        .mysql("SELECT @@innodb_buffer_pool_size, @@max_connections")
        .trim()
        .to_string()
}

fn redis_maxmemory(stack: &TestStack) -> String {
    let redis = stack.container(REDIS).name;
    let out = stack
        .docker()
        .redis_cli(&redis, &["CONFIG", "GET", "maxmemory"])
        .unwrap();
    out.lines().nth(1).unwrap_or("").trim().to_string()
}

pub(crate) fn assert_on_seed(stack: &TestStack) {
    assert_eq!(limits(stack, SERVER), (256 * MIB, 500_000_000, 128 * MIB));
    assert_eq!(limits(stack, WEB), (256 * MIB, 500_000_000, 128 * MIB));
    assert_eq!(limits(stack, DB), (768 * MIB, 1_000_000_000, 384 * MIB));
    assert_eq!(limits(stack, REDIS), (128 * MIB, 500_000_000, 64 * MIB));
    assert_eq!(mysql_settings(stack), format!("{}\t200", 128 * MIB));
    assert_eq!(redis_maxmemory(stack), (64 * MIB).to_string());
    for s in stack.wait_healthy() {
        assert!(s.is_ready(), "{} is {}", s.service, s.describe());
    }
}

pub(crate) fn assert_on_grow(stack: &TestStack) {
    assert_eq!(limits(stack, SERVER), (512 * MIB, 1_000_000_000, 256 * MIB));
    assert_eq!(limits(stack, WEB), (512 * MIB, 1_000_000_000, 256 * MIB));
    assert_eq!(limits(stack, DB), (1024 * MIB, 2_000_000_000, 512 * MIB));
    assert_eq!(limits(stack, REDIS), (256 * MIB, 1_000_000_000, 128 * MIB));
    assert_eq!(mysql_settings(stack), format!("{}\t400", 256 * MIB));
    assert_eq!(redis_maxmemory(stack), (128 * MIB).to_string());
}

pub(crate) fn history(stack: &TestStack) -> Vec<serde_json::Value> {
    let out = xzup(stack)
        .args(["history", "--format", "json"])
        .run()
        .success();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    doc["runs"].as_array().expect("runs").clone()
}

/// Every step of an apply (of the default sequence, pre-copy) is reported done, and the
/// direct backup skipped.
pub(crate) fn assert_every_step_ok(out: &Outcome) {
    assert!(out.stderr.contains("skipped backup"), "{}", out.stderr);
    for step in [
        "preflight",
        "precopy",
        "down",
        "delta",
        "write-compose",
        "up",
        "archive",
        "verify",
        "commit",
    ] {
        assert!(
            out.stderr.contains(&format!("ok      {step}")),
            "{step}:\n{}",
            out.stderr
        );
    }
}

pub(crate) fn container_ids(stack: &TestStack) -> Vec<String> {
    let mut ids: Vec<String> = stack.containers().into_iter().map(|c| c.id).collect();
    ids.sort();
    ids
}

fn no_password(out: &Outcome) {
    assert!(
        !out.stdout.contains(stack::MYSQL_ROOT_PASSWORD),
        "{}",
        out.stdout
    );
    assert!(
        !out.stderr.contains(stack::MYSQL_ROOT_PASSWORD),
        "{}",
        out.stderr
    );
}

#[test]
fn apply_upgrades_verifies_keeps_data_and_rolls_back_on_request() {
    if !docker_available() {
        return;
    }
    let (stack, rows, files) = seeded();
    assert_on_seed(&stack);

    let out = xzup(&stack)
        .args(["apply", "--tier", "grow", "--verify-window", "3"])
        .run()
        .success();
    no_password(&out);
    assert_every_step_ok(&out);
    assert!(
        out.stdout.contains("Upgraded seed -> grow"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("db flags accepted by MariaDB 10.11"),
        "preflight ran the flags through the image: {}",
        out.stderr
    );
    assert_on_grow(&stack);
    assert_eq!(stack.checksum_rows(), rows, "rows intact");
    assert_eq!(stack.checksum_uploads(), files, "uploads intact");
    assert_eq!(
        std::fs::read_to_string(stack.compose_path()).unwrap(),
        seed_text(),
        "the source file is untouched"
    );
    assert!(stack.dir().join("docker-compose-grow.yml").exists());

    let runs = history(&stack);
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run["outcome"], "succeeded");
    assert_eq!(run["tier_from"], "seed");
    assert_eq!(run["tier_to"], "grow");
    assert_eq!(run["backup"]["verified"], true);
    assert!(run["downtime_ms"].as_u64().unwrap() > 0);
    let journal_text = std::fs::read_to_string(
        stack
            .dir()
            .join(".xzup/runs")
            .join(run["id"].as_str().unwrap())
            .join("journal.json"),
    )
    .unwrap();
    assert!(
        !journal_text.contains(stack::MYSQL_ROOT_PASSWORD),
        "no secret in the journal"
    );
    let backup = stack.dir().join(run["backup"]["path"].as_str().unwrap());
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&backup).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "backup readable by the owner only");
    let dir_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(backup.parent().unwrap())
            .unwrap()
            .permissions(),
    );
    assert_eq!(dir_mode & 0o777, 0o700, "backup dir owner-only");
    let state_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(stack.dir().join(".xzup"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(state_mode & 0o777, 0o700, "state dir owner-only");

    let out = xzup(&stack).args(["status"]).run().success();
    assert!(
        out.stdout
            .contains("Active file: docker-compose-grow.yml (activated by xzup)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Tier:        grow"), "{}", out.stdout);
    assert_eq!(
        out.stdout.matches("limits match the file").count(),
        4,
        "{}",
        out.stdout
    );
    // Without `--tiers-file`: the tier the run applied, of the tiers file it applied it
    // from, as the journal and state.json record it (issue 10, defect 11), not `custom`.
    assert_eq!(run["tiers_file"], tiers_file().display().to_string());
    assert_status_without_tiers_file(&stack, "grow");

    // Applying the same tier again changes nothing.
    let out = xzup(&stack)
        .args(["apply", "--tier", "grow"])
        .run()
        .success();
    assert!(out.stderr.contains("Nothing to change"), "{}", out.stderr);

    // Back to seed on request, with nobody reading the output (`xzup rollback | head -0`
    // in a closed terminal): the run still goes to its end, the stack comes back up.
    xzup(&stack)
        .args(["rollback"])
        .closed_stdout()
        .closed_stderr()
        .run()
        .success();
    assert_on_seed(&stack);
    assert_eq!(stack.checksum_rows(), rows);
    assert_eq!(stack.checksum_uploads(), files);
    let runs = history(&stack);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["kind"], "rollback");
    assert_eq!(runs[0]["outcome"], "succeeded");
    assert_eq!(runs[1]["undone_by"], runs[0]["id"]);
    assert_status_without_tiers_file(&stack, "seed");
    // Nothing left to roll back.
    xzup(&stack).args(["rollback"]).run().code(1);
}

/// `xzup status` with no `--tiers-file` names `tier` and the test tiers file.
fn assert_status_without_tiers_file(stack: &TestStack, tier: &str) {
    let out = Xzup::new()
        .cwd(stack.dir())
        .env("XZUP_COMPOSE", stack.flavour().as_str())
        .args(["status"])
        .run()
        .success();
    let line = format!(
        "Tier:        {tier} (tiers file {})\n",
        tiers_file().display()
    );
    assert!(out.stdout.contains(&line), "{line:?} in\n{}", out.stdout);
}

#[test]
fn oversized_tier_is_refused_before_downtime_and_forced_rolls_back() {
    if !docker_available() {
        return;
    }
    let (stack, rows, files) = seeded();
    let before = container_ids(&stack);

    let out = xzup(&stack)
        .args(["apply", "--tier", "oversize"])
        .run()
        .code(1);
    assert!(out.stderr.contains("exceeds the host's"), "{}", out.stderr);
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    assert_eq!(container_ids(&stack), before, "stack untouched");
    assert!(!stack.dir().join("docker-compose-oversize.yml").exists());

    let out = xzup(&stack)
        .args([
            "apply",
            "--tier",
            "oversize",
            "--force",
            "--wait-timeout",
            "120",
        ])
        .run()
        .code(3);
    no_password(&out);
    let err = out.stderr.to_lowercase();
    assert!(
        err.contains("range of cpus"),
        "the engine's reason: {}",
        out.stderr
    );
    assert!(err.contains("the old stack is back"), "{}", out.stderr);
    assert_on_seed(&stack);
    assert_eq!(stack.checksum_rows(), rows);
    assert_eq!(stack.checksum_uploads(), files);
    let runs = history(&stack);
    assert_eq!(runs[0]["outcome"], "rolled-back");
    assert_eq!(runs[1]["outcome"], "failed", "the refused run");
    // The failed run's file is not active: a plan starts from seed again.
    let out = xzup(&stack)
        .args(["plan", "--tier", "grow", "--format", "json"])
        .run()
        .success();
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(plan["from"]["tier"], "seed");
}

/// Issue 9: a db flag the server rejects fails preflight, naming the flag, with the stack
/// untouched — not `up` after the old stack went down. The fixture's `mysql:latest` is
/// MariaDB, which accepts `--query_cache_size` (MySQL 8 does not); an unknown flag stands in.
#[test]
fn preflight_refuses_db_flags_the_image_rejects() {
    if !docker_available() {
        return;
    }
    let (stack, rows, files) = seeded();
    let before = container_ids(&stack);
    // The operator added a flag to the db's command since the stack started.
    let text = std::fs::read_to_string(stack.compose_path()).unwrap();
    let edited = text.replacen(
        "      - --max_connections=200\n",
        "      - --max_connections=200\n      - --xzup-no-such-option=1\n",
        1,
    );
    assert_ne!(edited, text, "the seed file has the db flags as a list");
    std::fs::write(stack.compose_path(), &edited).unwrap();

    let out = xzup(&stack).args(["apply", "--tier", "grow"]).run().code(1);
    no_password(&out);
    assert!(
        out.stderr.contains(
            "refuses `--xzup-no-such-option=1` in the `command:` of `xiaozhi-esp32-server-db`: \
             unknown variable 'xzup-no-such-option=1'"
        ),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("MariaDB 10.11"), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was stopped"), "{}", out.stderr);
    assert_eq!(container_ids(&stack), before, "stack untouched");
    assert!(!stack.dir().join("docker-compose-grow.yml").exists());
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(
        step_status(&journal, "preflight").as_deref(),
        Some("failed")
    );
    assert_eq!(step_status(&journal, "down"), None, "nothing stopped");
    assert_eq!(stack.checksum_rows(), rows);
    assert_eq!(stack.checksum_uploads(), files);
}

#[test]
fn verify_failure_rolls_back() {
    if !docker_available() {
        return;
    }
    let (stack, rows, files) = seeded();
    let out = xzup(&stack)
        .args([
            "apply",
            "--tier",
            "skewed",
            "--verify-window",
            "1",
            "--restore-data",
            "always",
        ])
        .run()
        .code(3);
    assert!(
        out.stderr.contains("ok      rollback-restore-data"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("innodb_buffer_pool_size is 95M, the file says 100000001"),
        "{}",
        out.stderr
    );
    assert_on_seed(&stack);
    assert_eq!(stack.checksum_rows(), rows);
    assert_eq!(stack.checksum_uploads(), files);
    let runs = history(&stack);
    assert_eq!(runs[0]["outcome"], "rolled-back");
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(step_status(&journal, "verify").as_deref(), Some("failed"));
    assert_eq!(
        step_status(&journal, "rollback-check").as_deref(),
        Some("done")
    );
    // The data the new stack ran on was kept aside, not deleted.
    let kept: Vec<String> = std::fs::read_dir(stack.dir().join("mysql"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("data.xzup-quarantine-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
}

#[test]
fn ctrl_c_during_the_run_puts_the_old_stack_back() {
    if !docker_available() {
        return;
    }
    let (stack, rows, files) = seeded();
    // `--restore-data always`: the rollback that the Ctrl-C starts restores from the
    // archive, and must run to the end although the interrupt is still flagged.
    let child = spawn_paused(
        &stack,
        &["apply", "--tier", "grow", "--restore-data", "always"],
        "up",
    );
    let deadline = Instant::now() + Duration::from_secs(240);
    while newest_journal(stack.dir())
        .and_then(|j| step_status(&j, "up"))
        .is_none()
    {
        assert!(Instant::now() < deadline, "`up` never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "exit 3: rolled back");
    assert_on_seed(&stack);
    assert_eq!(stack.checksum_rows(), rows);
    assert_eq!(stack.checksum_uploads(), files);
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(journal["outcome"], "rolled-back");
    assert!(
        journal["rollback_reason"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{journal}"
    );
    assert_eq!(
        step_status(&journal, "rollback-restore-data").as_deref(),
        Some("done"),
        "{journal}"
    );
    let restored = journal["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "rollback-restore-data")
        .and_then(|s| s["detail"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(restored.starts_with("restored "), "{journal}");
}

#[test]
fn killed_during_backup_and_after_write_compose_then_resumed() {
    if !docker_available() {
        return;
    }
    let (stack, rows, files) = seeded();
    let child = spawn_paused(
        &stack,
        &[
            "apply",
            "--tier",
            "grow",
            "--verify-window",
            "1",
            "--backup-mode",
            "direct",
        ],
        "backup",
    );
    kill_at(child, stack.dir(), "backup");
    // Killed with the stack down and no archive yet: apply refuses, resume continues.
    let out = xzup(&stack).args(["apply", "--tier", "grow"]).run().code(1);
    assert!(out.stderr.contains("unfinished"), "{}", out.stderr);
    let child = spawn_paused(&stack, &["resume"], "up");
    kill_at(child, stack.dir(), "up");
    assert!(
        stack.dir().join("docker-compose-grow.yml").exists(),
        "written before `up`"
    );
    // An operator resuming after a slow start asks for a longer wait: it applies to the
    // rest of the run, and the journal says so.
    let out = xzup(&stack)
        .args(["resume", "--wait-timeout", "250"])
        .run()
        .success();
    assert!(
        out.stdout.contains("Upgraded seed -> grow"),
        "{}",
        out.stdout
    );
    let note = "xzup resume changed --wait-timeout from 300 to 250 for the rest of the run";
    assert!(out.stderr.contains(note), "{}", out.stderr);
    assert_on_grow(&stack);
    assert_eq!(stack.checksum_rows(), rows);
    assert_eq!(stack.checksum_uploads(), files);
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(journal["outcome"], "succeeded");
    assert_eq!(journal["backup"]["verified"], true);
    assert_eq!(journal["settings"]["wait_timeout_secs"], 250);
    assert_eq!(
        journal["settings"]["verify_window_secs"], 1,
        "the run's own"
    );
    assert_eq!(journal["warnings"], serde_json::json!([note]));
    let backups: Vec<_> = std::fs::read_dir(stack.dir().join("backups"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        backups.iter().filter(|n| n.ends_with(".tar.gz")).count(),
        1,
        "{backups:?}"
    );
    assert!(
        !backups.iter().any(|n| n.ends_with(".partial")),
        "{backups:?}"
    );
}

#[test]
fn killed_after_write_compose_then_rolled_back() {
    if !docker_available() {
        return;
    }
    let (stack, rows, files) = seeded();
    let child = spawn_paused(&stack, &["apply", "--tier", "grow"], "up");
    kill_at(child, stack.dir(), "up");
    let out = xzup(&stack).args(["rollback"]).run().success();
    assert!(out.stdout.contains("back on seed"), "{}", out.stdout);
    assert_on_seed(&stack);
    assert_eq!(stack.checksum_rows(), rows);
    assert_eq!(stack.checksum_uploads(), files);
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(journal["outcome"], "rolled-back");
}

#[test]
fn a_second_apply_is_refused_by_the_lock() {
    if !docker_available() {
        return;
    }
    let (stack, _, _) = seeded();
    let before = container_ids(&stack);
    let child = spawn_paused(&stack, &["apply", "--tier", "grow"], "preflight");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while newest_journal(stack.dir())
        .and_then(|j| step_status(&j, "preflight"))
        .is_none()
    {
        assert!(Instant::now() < deadline, "the first apply never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = xzup(&stack).args(["apply", "--tier", "grow"]).run().code(1);
    assert!(out.stderr.contains(&format!("pid {pid}")), "{}", out.stderr);
    assert!(out.stderr.contains("xzup apply"), "{}", out.stderr);
    kill_at(child, stack.dir(), "preflight");
    assert_eq!(container_ids(&stack), before, "nothing changed before down");
    // The killed run is unfinished; rolling it back leaves the seed stack running.
    xzup(&stack).args(["rollback"]).run().success();
    assert_on_seed(&stack);
}

/// Issue 10: `restore` swapped data in while an `apply` held the lock. An apply paused at
/// its backup (the stack down, so no running container stops a restore) holds the lock:
/// `restore`, `backup` and `backups prune` refuse, naming it, and change nothing; after
/// Ctrl-C the apply rolls back to the old stack with its data intact.
#[test]
fn e2e_restore_backup_and_prune_refuse_while_an_apply_holds_the_lock() {
    if !docker_available() {
        return;
    }
    let (stack, rows, files) = seeded();
    let marker = stack.dir().join("data/marker.txt");
    std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
    std::fs::write(&marker, "as backed up").unwrap();
    let archive = stack.dir().join("data-only.tar.gz");
    let request = xzup::backup::BackupRequest {
        paths: vec![xzup::datapath::DataPath::in_deployment(
            stack.dir(),
            "data",
            xzup::datapath::Part::Included,
        )],
        out: archive.clone(),
        level: 1,
        threads: 1,
        verify: true,
        compose_sha256: None,
        tool: "xzup test".into(),
        staged: None,
    };
    xzup::backup::create(&request, &mut xzup::backup::NoProgress).unwrap();
    std::fs::write(&marker, "changed since").unwrap();

    let mut child = spawn_paused(
        &stack,
        &["apply", "--tier", "grow", "--backup-mode", "direct"],
        "backup",
    );
    let deadline = Instant::now() + Duration::from_secs(240);
    while newest_journal(stack.dir())
        .and_then(|j| step_status(&j, "backup"))
        .is_none()
    {
        if let Ok(Some(exit)) = child.try_wait() {
            panic!("xzup ended ({exit}) before reaching `backup`");
        }
        assert!(Instant::now() < deadline, "`backup` never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let held = format!(
        "error: another xzup run holds the lock of this deployment: `xzup apply` (pid {} on `{}`), since ",
        child.id(),
        xzup::lock::hostname()
    );
    for args in [
        vec!["restore", archive.to_str().unwrap()],
        vec!["backup"],
        vec!["backups", "prune", "--keep", "1"],
    ] {
        let out = xzup(&stack).args(&args).run().code(1);
        assert!(out.stderr.starts_with(&held), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("hint: wait for that run to finish"),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "changed since");

    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "exit 3: rolled back");
    assert_on_seed(&stack);
    assert_eq!(stack.checksum_rows(), rows);
    assert_eq!(stack.checksum_uploads(), files);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "changed since");
}
