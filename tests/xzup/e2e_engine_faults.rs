//! Faults around a run, end to end: the disk filling up before and during the backup, `up`
//! failing on a host port taken while the stack was down, a service that is not healthy in
//! time, `docker stats` printing `--`, and Ctrl-C twice. Each test holds the run at a
//! named point (`XZUP_TEST_PAUSE_AT`, released through `XZUP_TEST_PAUSE_RELEASE`, hooks of
//! test builds) to make the fault happen exactly there.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::e2e_upgrade::{
    assert_on_seed, newest_journal, seed_text, step_status, tiers_file, xzup,
};
use crate::harness::{Outcome, docker_available};
use crate::stack::TestStack;

/// A seeded stack and its data's checksums.
fn seeded() -> (TestStack, String, String) {
    let stack = TestStack::new(&seed_text());
    stack.insert_rows(300);
    stack.write_upload_files(10);
    let (rows, files) = (stack.checksum_rows(), stack.checksum_uploads());
    (stack, rows, files)
}

/// A run held at the points of `pause_at`, each released by [`Held::release`].
struct Held {
    child: Child,
    release: PathBuf,
    _dir: tempfile::TempDir,
}

impl Held {
    fn spawn(stack: &TestStack, args: &[&str], pause_at: &str, path: Option<&str>) -> Held {
        if !cfg!(feature = "test-hooks") {
            panic!("this test holds xzup at a point: build with `--features test-hooks`");
        }
        let dir = tempfile::tempdir().unwrap();
        let release = dir.path().join("release");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xzup"));
        cmd.current_dir(stack.dir())
            .env("XZUP_COMPOSE", stack.flavour().as_str())
            .env("XZUP_TEST_PAUSE_AT", pause_at)
            .env("XZUP_TEST_PAUSE_RELEASE", &release)
            .env("NO_COLOR", "1")
            .arg("--tiers-file")
            .arg(tiers_file())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(path) = path {
            cmd.env("PATH", path);
        }
        Held {
            child: cmd.spawn().expect("xzup starts"),
            release,
            _dir: dir,
        }
    }

    /// Waits until the run is held at `point`.
    fn wait_at(&mut self, point: &str) {
        let at = PathBuf::from(format!("{}.at", self.release.display()));
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            if std::fs::read_to_string(&at).is_ok_and(|p| p == point) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("xzup ended ({status}) before `{point}`");
            }
            assert!(Instant::now() < deadline, "never held at `{point}`");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn release(&self) {
        std::fs::write(&self.release, "go").unwrap();
    }

    fn sigint(&self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
    }

    fn finish(self) -> Outcome {
        Outcome::of(self.child)
    }
}

/// Names of the files in `dir`.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A tmpfs of `size` at `at`, unmounted when dropped.
pub(crate) struct Tmpfs(PathBuf);

impl Tmpfs {
    pub(crate) fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "mount -t tmpfs at {} (the e2e tests run as root)",
            at.display()
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn e2e_a_full_backup_disk_refuses_before_downtime_or_rolls_back_mid_archive() {
    if !docker_available() {
        return;
    }
    let (stack, rows, files) = seeded();
    let ids_before: Vec<String> = stack.containers().into_iter().map(|c| c.id).collect();
    let mounts = tempfile::tempdir().unwrap();

    // Too small from the start: preflight says so, nothing stops.
    let small = mounts.path().join("small");
    let _small = Tmpfs::mount(&small, "1m");
    let out = xzup(&stack)
        .args(["apply", "--tier", "grow"])
        .arg_path("--backup-dir", &small)
        .run()
        .code(1);
    assert!(
        out.stderr.contains(&format!(
            "not enough free space for the backup in `{}`: ",
            small.display()
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(" needed, 1M free"), "{}", out.stderr);
    let ids_now: Vec<String> = stack.containers().into_iter().map(|c| c.id).collect();
    assert_eq!(ids_now, ids_before, "the old stack was not touched");
    assert_eq!(names_in(&small), Vec::<String>::new());

    // Room at the start, filled by someone else half-way through the archive.
    let big = mounts.path().join("big");
    let _big = Tmpfs::mount(&big, "1g");
    let big_arg = big.display().to_string();
    let mut held = Held::spawn(
        &stack,
        &[
            "apply",
            "--tier",
            "grow",
            "--backup-dir",
            &big_arg,
            "--backup-mode",
            "direct",
        ],
        "middle:backup",
        None,
    );
    held.wait_at("middle:backup");
    let partial: Vec<String> = names_in(&big)
        .into_iter()
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert_eq!(partial.len(), 1, "mid-archive: {:?}", names_in(&big));
    let mut filler = std::fs::File::create(big.join("filler")).unwrap();
    let chunk = vec![7u8; 1 << 20];
    while std::io::Write::write_all(&mut filler, &chunk).is_ok() {}
    drop(filler);
    held.release();
    let out = held.finish().code(3);
    assert!(
        out.stderr.contains(&format!(
            "the disk filled up while writing the backup in `{}`: about ",
            big.display()
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("was free when it began; the unfinished archive was removed"),
        "{}",
        out.stderr
    );
    assert_eq!(names_in(&big), ["filler"], "the partial archive is gone");
    assert_on_seed(&stack);
    assert_eq!(stack.checksum_rows(), rows);
    assert_eq!(stack.checksum_uploads(), files);
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(journal["outcome"], "rolled-back");
    assert_eq!(step_status(&journal, "backup").as_deref(), Some("failed"));
}

#[test]
fn e2e_ctrl_c_twice_leaves_a_resumable_rollback_and_says_so() {
    if !docker_available() {
        return;
    }
    let (stack, rows, files) = seeded();
    let mut held = Held::spawn(
        &stack,
        &["apply", "--tier", "grow", "--restore-data", "always"],
        "up,rollback-restore-data",
        None,
    );
    held.wait_at("started:up");
    held.sigint();
    // The first Ctrl-C rolls back: the rollback reaches the restore, held there.
    held.wait_at("started:rollback-restore-data");
    let kept_before = names_in(&stack.dir().join("mysql"));
    held.sigint();
    let out = held.finish().code(130);
    assert!(
        out.stderr
            .contains("interrupted again: run `xzup resume` or `xzup rollback`"),
        "{}",
        out.stderr
    );
    // Stopped before anything was swapped: the data where it was, nothing kept aside.
    assert_eq!(names_in(&stack.dir().join("mysql")), kept_before);
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(journal["outcome"], "in-progress", "{journal}");
    assert_eq!(
        step_status(&journal, "rollback-down").as_deref(),
        Some("done")
    );
    let status = xzup(&stack)
        .args(["status", "--format", "json"])
        .run()
        .success();
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(
        doc["unfinished_run"]["next_step"], "rollback-restore-data",
        "{}",
        status.stdout
    );
    let out = xzup(&stack).args(["resume"]).run().code(3);
    assert!(
        out.stderr.contains("ok      rollback-restore-data"),
        "{}",
        out.stderr
    );
    assert_on_seed(&stack);
    assert_eq!(stack.checksum_rows(), rows);
    assert_eq!(stack.checksum_uploads(), files);
    assert_eq!(
        newest_journal(stack.dir()).unwrap()["outcome"],
        "rolled-back"
    );
}

#[test]
fn e2e_up_failing_on_a_taken_port_rolls_back_with_exit_3() {
    if !docker_available() {
        return;
    }
    let (stack, rows, files) = seeded();
    let mut held = Held::spawn(&stack, &["apply", "--tier", "grow"], "up,rollback-up", None);
    held.wait_at("started:up");
    // While the stack is down, something else takes the server's host port.
    let squatter = std::net::TcpListener::bind("0.0.0.0:8003").expect("port 8003 is free");
    held.release();
    held.wait_at("started:rollback-up");
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(step_status(&journal, "up").as_deref(), Some("failed"));
    drop(squatter);
    held.release();
    let out = held.finish().code(3);
    assert!(
        out.stderr.contains("8003"),
        "the error names the port:\n{}",
        out.stderr
    );
    assert_on_seed(&stack);
    assert_eq!(stack.checksum_rows(), rows);
    assert_eq!(stack.checksum_uploads(), files);
}

#[test]
fn e2e_a_service_not_healthy_in_time_rolls_back() {
    if !docker_available() {
        return;
    }
    let (stack, rows, files) = seeded();
    // MariaDB needs seconds to answer its healthcheck: within 1 s it never is.
    let out = xzup(&stack)
        .args(["apply", "--tier", "grow", "--wait-timeout", "1"])
        .run()
        .code(3);
    assert!(
        out.stderr.contains("FAILED  up") && out.stderr.contains("services not ready after 1"),
        "{}",
        out.stderr
    );
    // The old stack gets the time it needs, not the new one's 1 s.
    assert!(
        out.stderr.contains("ok      rollback-check"),
        "{}",
        out.stderr
    );
    assert_on_seed(&stack);
    assert_eq!(stack.checksum_rows(), rows);
    assert_eq!(stack.checksum_uploads(), files);
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(journal["outcome"], "rolled-back");
    assert_eq!(
        step_status(&journal, "rollback-check").as_deref(),
        Some("done")
    );
}

/// A `docker` that forwards everything to the real one but `stats`, which prints `--` for
/// every field, as the engine does for what it cannot read.
fn docker_with_blank_stats(dir: &Path) -> String {
    let real = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v docker"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let script = format!(
        r#"#!/bin/sh
if [ "$1" = stats ]; then
    shift
    skip=0
    for a in "$@"; do
        if [ "$skip" = 1 ]; then skip=0; continue; fi
        case "$a" in
            --format) skip=1 ;;
            --*) ;;
            *) printf '{{"BlockIO":"--","CPUPerc":"--","Container":"%s","ID":"%s","MemPerc":"--","MemUsage":"-- / --","Name":"%s","NetIO":"--","PIDs":"--"}}\n' "$a" "$a" "$a" ;;
        esac
    done
    exit 0
fi
exec {real} "$@"
"#
    );
    let bin = dir.join("docker");
    std::fs::write(&bin, script).unwrap();
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn e2e_docker_stats_printing_dashes_is_no_reading_not_zero() {
    if !docker_available() {
        return;
    }
    let (stack, rows, files) = seeded();
    let bin = tempfile::tempdir().unwrap();
    let path = docker_with_blank_stats(bin.path());
    let out = xzup(&stack)
        .env("PATH", &path)
        .args(["apply", "--tier", "grow", "--verify-window", "2"])
        .run()
        .success();
    for service in crate::stack::SERVICES {
        let warning = format!(
            "{service}: `docker stats` gave no reading (`--`) in the verify window: its CPU and memory were not measured"
        );
        assert!(out.stderr.contains(&warning), "{warning}\n{}", out.stderr);
    }
    assert!(
        out.stderr
            .contains("load not measured (`docker stats` gave no reading)"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("peak CPU 0%"), "{}", out.stderr);
    assert_eq!(stack.checksum_rows(), rows);
    assert_eq!(stack.checksum_uploads(), files);
    // With --strict, no reading fails the verification: the old stack comes back.
    let out = xzup(&stack)
        .env("PATH", &path)
        .args([
            "apply",
            "--tier",
            "seed",
            "--verify-window",
            "1",
            "--strict",
        ])
        .run()
        .code(3);
    assert!(out.stderr.contains("gave no reading"), "{}", out.stderr);
    assert_eq!(stack.checksum_rows(), rows);
}

/// The Docker engine stopped (SIGTERM to dockerd, as `service docker stop` does), started
/// again when dropped — also when the test fails — the way `scripts/ensure-docker.sh`
/// starts it.
struct EngineOutage;

impl EngineOutage {
    fn begin() -> EngineOutage {
        let pid: i32 = std::fs::read_to_string("/var/run/docker.pid")
            .expect("dockerd's pid file (scripts/ensure-docker.sh starts it with one)")
            .trim()
            .parse()
            .unwrap();
        // SAFETY: kill(2) on the engine's pid, read from its pid file.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(60);
        // SAFETY: signal 0 only checks that the process exists.
        while unsafe { libc::kill(pid, 0) } == 0 {
            assert!(Instant::now() < deadline, "dockerd did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
        EngineOutage
    }
}

impl Drop for EngineOutage {
    fn drop(&mut self) {
        let script = crate::harness::repo_root().join("scripts/ensure-docker.sh");
        let ok = Command::new("bash")
            .arg(script)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("e2e: could not start dockerd again: run scripts/ensure-docker.sh");
        }
    }
}

#[test]
fn e2e_the_engine_stopping_mid_run_is_recovered_by_rollback_once_it_is_back() {
    if !docker_available() {
        return;
    }
    let (stack, rows, files) = seeded();
    let mut held = Held::spawn(&stack, &["apply", "--tier", "grow"], "up", None);
    held.wait_at("started:up");
    // Stopped with the stack down and the backup taken: `up` and the rollback both meet
    // a dead engine. The outage is kept short: other checkouts share this engine.
    let outage = EngineOutage::begin();
    held.release();
    let out = held.finish();
    drop(outage);
    let out = out.code(4);
    assert!(
        out.stderr.contains("xzup rollback"),
        "says what to run:\n{}",
        out.stderr
    );
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(step_status(&journal, "up").as_deref(), Some("failed"));
    assert_eq!(journal["outcome"], "rollback-failed", "{journal}");
    // The engine is back: the rollback goes on from where it stopped.
    let out = xzup(&stack).args(["rollback"]).run().success();
    assert!(out.stdout.contains("back on seed"), "{}", out.stdout);
    assert_on_seed(&stack);
    assert_eq!(stack.checksum_rows(), rows);
    assert_eq!(stack.checksum_uploads(), files);
}
