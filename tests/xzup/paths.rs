//! Paths the operator names (`render -o`, `--backup-dir`, `backup --out`) and xzup's own
//! state files when they are damaged: issue 10, defects 1, 7, 9, 10, 11 and 12. Each case
//! ends with an exact outcome and, for a refusal, proof that nothing on disk changed. No
//! Docker engine needed.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cli::xzup;
use crate::harness::{Outcome, Xzup, copy_tree, example};

/// A temp copy of `examples/offline` at `TMP/d`, with a small MySQL datadir.
fn deployment() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    copy_tree(&example("offline"), &dir);
    let db = dir.join("mysql/data");
    fs::create_dir_all(db.join("xiaozhi_esp32_server")).unwrap();
    fs::write(db.join("ibdata1"), "innodb pages").unwrap();
    fs::write(db.join("xiaozhi_esp32_server/ai_agent.ibd"), "rows").unwrap();
    fs::set_permissions(&db, fs::Permissions::from_mode(0o755)).unwrap();
    (tmp, dir)
}

/// Every entry under `root` (symlinks not followed): its type, mode and content or link
/// target. Equal before and after proves a command changed nothing there.
fn snapshot(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let mode = meta.mode() & 0o7777;
        let t = meta.file_type();
        if t.is_symlink() {
            out.push(format!(
                "{rel} link -> {}",
                fs::read_link(&path).unwrap().display()
            ));
        } else if t.is_dir() {
            out.push(format!("{rel} dir {mode:o}"));
            for e in fs::read_dir(&path).unwrap() {
                stack.push(e.unwrap().path());
            }
        } else if t.is_file() {
            let bytes = fs::read(&path).unwrap();
            out.push(format!(
                "{rel} file {mode:o} {}",
                String::from_utf8_lossy(&bytes)
            ));
        } else {
            out.push(format!("{rel} special {mode:o} ino {}", meta.ino()));
        }
    }
    out.sort();
    out
}

/// Runs with a deadline: a command that would block (a FIFO opened for reading) is killed
/// and the test fails, rather than hanging the suite.
fn run_within(x: Xzup, limit: Duration) -> Outcome {
    let mut child = x.spawn();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            let out = Outcome::of(child);
            panic!("xzup still ran after {limit:?}: {out:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Outcome::of(child)
}

fn render_o(dir: &Path, cwd: &Path, out: &str) -> Outcome {
    run_within(
        xzup()
            .cwd(cwd)
            .args(["-C"])
            .args([dir])
            .args(["render", "--tier", "high", "-o", out]),
        Duration::from_secs(20),
    )
}

/// Stderr without the tier's warnings, the temp dir replaced.
fn error_of(out: &Outcome, tmp: &Path) -> String {
    out.stderr
        .replace(&tmp.display().to_string(), "[TMP]")
        .lines()
        .filter(|l| !l.starts_with("warning: "))
        .collect::<Vec<_>>()
        .join("\n")
}

const RENDER_HINT: &str = "hint: `-o` writes a regular file: pass a new path, or a compose file other than the source, outside the data paths (`xzup plan` lists them); without `-o` the file is printed on stdout (secrets masked). Nothing was changed";

#[test]
fn render_o_never_replaces_a_data_dir_or_writes_into_one() {
    let (tmp, dir) = deployment();
    let before = snapshot(tmp.path());
    let out = render_o(&dir, &dir, "mysql/data").code(64);
    assert_eq!(
        error_of(&out, tmp.path()),
        format!(
            "error: `-o mysql/data`: [TMP]/d/mysql/data is a directory, not a regular file\n{RENDER_HINT}"
        )
    );
    let out = render_o(&dir, &dir, "mysql/data/high.yml").code(64);
    assert_eq!(
        error_of(&out, tmp.path()),
        format!(
            "error: `-o mysql/data/high.yml`: [TMP]/d/mysql/data/high.yml is inside the data path `mysql/data` ([TMP]/d/mysql/data)\n{RENDER_HINT}"
        )
    );
    // Through `..` and through a symlink: the place it names is what counts.
    symlink(dir.join("uploadfile"), tmp.path().join("up")).unwrap();
    let before_link = snapshot(tmp.path());
    let out = render_o(&dir, tmp.path(), "up/x.yml").code(64);
    assert!(
        out.stderr.contains("is inside the data path `uploadfile`"),
        "{}",
        out.stderr
    );
    let out = render_o(&dir, &dir, "backups/../mysql/data/x.yml").code(64);
    assert!(
        out.stderr.contains("inside the data path `mysql/data`"),
        "{}",
        out.stderr
    );
    assert_eq!(snapshot(tmp.path()), before_link, "nothing changed");
    fs::remove_file(tmp.path().join("up")).unwrap();
    assert_eq!(snapshot(tmp.path()), before);
}

#[test]
fn render_o_never_replaces_the_source_by_another_name() {
    let (tmp, dir) = deployment();
    fs::hard_link(
        dir.join("docker-compose-offline.yml"),
        tmp.path().join("hard.yml"),
    )
    .unwrap();
    symlink(
        dir.join("docker-compose-offline.yml"),
        tmp.path().join("soft.yml"),
    )
    .unwrap();
    let before = snapshot(tmp.path());
    for arg in [
        "d/../d/docker-compose-offline.yml",
        "./d/docker-compose-offline.yml",
        "hard.yml",
        "soft.yml",
    ] {
        let out = render_o(&dir, tmp.path(), arg).code(64);
        assert_eq!(
            error_of(&out, tmp.path()),
            format!(
                "error: `-o {arg}` is the source compose file [TMP]/d/docker-compose-offline.yml\n{RENDER_HINT}"
            ),
        );
    }
    assert_eq!(snapshot(tmp.path()), before, "nothing changed");
}

#[test]
fn render_o_refuses_fifos_devices_and_sockets_without_hanging() {
    let (tmp, dir) = deployment();
    let fifo = tmp.path().join("pipe.yml");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let socket = tmp.path().join("sock.yml");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    symlink("/dev/null", tmp.path().join("null.yml")).unwrap();
    symlink(&fifo, tmp.path().join("to-pipe.yml")).unwrap();
    let before = snapshot(tmp.path());
    let null_before = fs::symlink_metadata("/dev/null").unwrap();
    for (arg, what) in [
        ("pipe.yml", "[TMP]/pipe.yml is a FIFO (named pipe)"),
        ("sock.yml", "[TMP]/sock.yml is a socket"),
        ("null.yml", "[TMP]/null.yml is a symlink to a device"),
        (
            "to-pipe.yml",
            "[TMP]/to-pipe.yml is a symlink to a FIFO (named pipe)",
        ),
        ("/dev/null", "/dev/null is a device"),
        // The test's stdout is a pipe: `/dev/stdout` leads to it.
        (
            "/dev/stdout",
            "/dev/stdout is a symlink to a FIFO (named pipe)",
        ),
    ] {
        let out = render_o(&dir, tmp.path(), arg).code(64);
        assert_eq!(
            error_of(&out, tmp.path()),
            format!("error: `-o {arg}`: {what}, not a regular file\n{RENDER_HINT}"),
        );
    }
    assert_eq!(snapshot(tmp.path()), before, "nothing changed");
    let null_after = fs::symlink_metadata("/dev/null").unwrap();
    assert!(null_after.file_type().is_char_device());
    assert_eq!(
        null_after.ino(),
        null_before.ino(),
        "/dev/null is the host's own"
    );
}

#[test]
fn render_o_writes_a_new_file_and_keeps_a_replaced_regular_one() {
    let (tmp, dir) = deployment();
    // Relative to the current directory, like any command-line tool.
    let out = render_o(&dir, tmp.path(), "new.yml").success();
    assert_eq!(
        error_of(&out, tmp.path()),
        "wrote [TMP]/new.yml for tier `high`"
    );
    let written = fs::read_to_string(tmp.path().join("new.yml")).unwrap();
    assert!(
        written.contains("MYSQL_ROOT_PASSWORD=123456"),
        "the real file, unmasked"
    );
    // An existing regular file that is not the source, through a symlink: the link is
    // moved aside, the file it pointed to is untouched.
    fs::write(tmp.path().join("old.yml"), "old").unwrap();
    symlink(tmp.path().join("old.yml"), tmp.path().join("via.yml")).unwrap();
    let out = render_o(&dir, tmp.path(), "via.yml").success();
    assert!(
        error_of(&out, tmp.path())
            .starts_with("kept the previous file as [TMP]/via.yml.xzup-quarantine-"),
        "{}",
        out.stderr
    );
    assert_eq!(
        fs::read_to_string(tmp.path().join("old.yml")).unwrap(),
        "old"
    );
    assert_eq!(
        fs::read_to_string(tmp.path().join("via.yml")).unwrap(),
        written
    );
    let out = render_o(&dir, tmp.path(), "via.yml").success();
    assert_eq!(error_of(&out, tmp.path()), "[TMP]/via.yml is up to date");
}

fn backup(dir: &Path, cwd: &Path, args: &[&str]) -> Outcome {
    xzup()
        .cwd(cwd)
        .args(["-C"])
        .args([dir])
        .args(["backup", "--no-verify"])
        .args(args)
        .run()
}

const BACKUP_DIR_HINT: &str = "hint: put archives in a directory of their own outside the data paths and compose files (the default is DIR/backups). Nothing was changed";

#[test]
fn backup_dir_never_changes_a_data_dir() {
    let (tmp, dir) = deployment();
    let before = snapshot(tmp.path());
    for (arg, what) in [
        (
            "mysql/data",
            "[TMP]/d/mysql/data is the data path `mysql/data`",
        ),
        (
            "backups/../mysql/data/x",
            "[TMP]/d/mysql/data/x is inside the data path `mysql/data`",
        ),
        (
            "docker-compose-offline.yml",
            "[TMP]/d/docker-compose-offline.yml is the compose file `docker-compose-offline.yml`",
        ),
    ] {
        let out = backup(&dir, &dir, &["--backup-dir", arg]).code(64);
        let holder = if arg.starts_with("docker") {
            "[TMP]/d/docker-compose-offline.yml"
        } else {
            "[TMP]/d/mysql/data"
        };
        assert_eq!(
            error_of(&out, tmp.path()),
            format!("error: `--backup-dir {arg}`: {what} ({holder})\n{BACKUP_DIR_HINT}")
        );
        // `apply` (and its dry run) refuses it as well, before the lock or the engine.
        let out = xzup()
            .cwd(&dir)
            .args(["-C"])
            .args([&dir])
            .args(["apply", "--tier", "high", "--dry-run", "--backup-dir", arg])
            .run()
            .code(64);
        assert!(
            out.stderr.contains(what.split(" is ").nth(1).unwrap()),
            "{}",
            out.stderr
        );
    }
    let out = backup(&dir, &dir, &["--out", "mysql/data/b.tar.gz"]).code(64);
    assert!(
        out.stderr.contains(
            "[TMP]/d/mysql/data/b.tar.gz is inside the data path `mysql/data`"
                .replace("[TMP]", &tmp.path().display().to_string())
                .as_str()
        ),
        "{}",
        out.stderr
    );
    assert_eq!(snapshot(tmp.path()), before, "no mode, no file changed");
}

#[test]
fn backup_dir_is_relative_to_the_current_dir_and_keeps_its_mode() {
    let (tmp, dir) = deployment();
    let mine = tmp.path().join("mine");
    fs::create_dir(&mine).unwrap();
    fs::set_permissions(&mine, fs::Permissions::from_mode(0o755)).unwrap();
    // Run from TMP with `-C d`: `mine` is TMP/mine, as for `--out` and `render -o`.
    let out = backup(&dir, tmp.path(), &["--backup-dir", "mine"]).success();
    let archives: Vec<String> = fs::read_dir(&mine)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(archives.len(), 1, "{archives:?} {}", out.stderr);
    assert!(archives[0].starts_with("backup-") && archives[0].ends_with(".tar.gz"));
    assert!(!dir.join("mine").exists(), "not relative to -C DIR");
    assert_eq!(
        fs::metadata(&mine).unwrap().mode() & 0o777,
        0o755,
        "the operator's own directory keeps its mode"
    );
    // One xzup creates is owner-only.
    backup(&dir, tmp.path(), &["--backup-dir", "new/sub"]).success();
    for created in ["new", "new/sub"] {
        assert_eq!(
            fs::metadata(tmp.path().join(created)).unwrap().mode() & 0o777,
            0o700
        );
    }
    // `--out` resolves the same way.
    backup(&dir, tmp.path(), &["--out", "one.tar.gz"]).success();
    assert!(tmp.path().join("one.tar.gz").is_file());
}

/// Every command that reads `.xzup/state.json`, as the operator types it.
const STATE_READERS: [&[&str]; 10] = [
    &["status"],
    &["plan", "--tier", "high"],
    &["render", "--tier", "high"],
    &["apply", "--tier", "high", "--dry-run"],
    &["apply", "--tier", "high"],
    &["resume"],
    &["rollback"],
    &["unlock"],
    &["backup"],
    &["backups", "list"],
];

#[test]
fn a_damaged_state_file_is_named_and_moving_it_aside_is_safe() {
    for damage in ["{ not json", r#"{"active_compose": 7}"#, "[]"] {
        let (tmp, dir) = deployment();
        crate::journal::put_journal(
            &dir,
            "20261124-100000-apply-high",
            crate::journal::SUCCEEDED,
        );
        fs::write(dir.join(".xzup/state.json"), damage).unwrap();
        let before = snapshot(tmp.path());
        let state = dir.join(".xzup/state.json").display().to_string();
        let hint = format!(
            "hint: moving it aside is safe (`mv {state} {state}.damaged`): it only remembers which \
             compose file xzup last activated and its tier. Without it xzup finds the compose file \
             by its default names (or `-f FILE`) until the next apply writes a new one; runs, \
             journals, the lock and backups are kept"
        );
        for args in STATE_READERS {
            let out = xzup().args(["-C"]).args([&dir]).args(args).run().code(1);
            let lines: Vec<&str> = out.stderr.lines().collect();
            assert!(
                lines[0].starts_with(&format!("error: xzup's state file `{state}` is damaged: ")),
                "{args:?}: {}",
                out.stderr
            );
            assert_eq!(lines[1..], [hint.as_str()], "{args:?}");
        }
        // `history` still lists the runs, and says the same.
        let out = xzup()
            .env("TZ", "UTC")
            .args(["-C"])
            .args([&dir])
            .args(["history"])
            .run()
            .success();
        assert_eq!(out.stdout, crate::journal::SUCCEEDED_TEXT);
        assert!(
            out.stderr.starts_with(&format!(
                "warning: xzup's state file `{state}` is damaged: "
            )),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.ends_with(&format!("\n  {hint}\n")),
            "{}",
            out.stderr
        );
        assert_eq!(snapshot(tmp.path()), before, "nothing changed");
    }
}

#[test]
fn a_file_named_xzup_is_named_and_moving_it_aside_is_safe() {
    let (tmp, dir) = deployment();
    fs::write(dir.join(".xzup"), "notes").unwrap();
    let before = snapshot(tmp.path());
    let path = dir.join(".xzup").display().to_string();
    let expected = format!(
        "error: `{path}` is not a directory, but xzup keeps its state (state.json, the lock, the \
         runs' journals) in a directory of that name\n\
         hint: moving it aside is safe (`mv {path} {path}.moved`): xzup did not write it, so no \
         state, journal or lock of xzup is lost; the next apply creates the directory\n"
    );
    for args in STATE_READERS.iter().chain([&["history"][..]].iter()) {
        let out = xzup().args(["-C"]).args([&dir]).args(*args).run().code(1);
        assert_eq!(out.stderr, expected, "{args:?}");
    }
    assert_eq!(snapshot(tmp.path()), before, "nothing changed");
}

/// The lines of the plan's `Warnings` section.
fn plan_warnings(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|l| *l != "Warnings")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.trim_start().to_string())
        .collect()
}

#[test]
fn plan_and_dry_run_warn_of_what_would_make_apply_refuse() {
    let (tmp, dir) = deployment();
    crate::journal::put_journal(
        &dir,
        "20261124-100000-apply-high",
        crate::journal::SUCCEEDED,
    );
    crate::journal::put_journal(
        &dir,
        "20261126-080000-apply-ultra",
        crate::journal::INTERRUPTED,
    );
    crate::journal::put_journal(&dir, "20261127-090000-apply-high", "{ not json");
    let before = snapshot(tmp.path());
    let bad = dir.join(".xzup/runs/20261127-090000-apply-high");
    let expected = [
        "`xzup apply` would refuse: run `20261126-080000-apply-ultra` did not finish (it stopped at `backup`); `xzup resume` finishes it, `xzup rollback` undoes it".to_string(),
        format!(
            "`xzup apply` would refuse: the journal `{0}/journal.json` is damaged: key must be a string at line 1 column 3 (xzup writes journals atomically, so something else changed this file; look at it, and if that run no longer matters move its directory out of the way: `mv {0} /tmp/`)",
            bad.display()
        ),
    ];
    for args in [
        &["plan", "--tier", "high"][..],
        &["apply", "--tier", "high", "--dry-run"],
    ] {
        let out = xzup().args(["-C"]).args([&dir]).args(args).run().success();
        let warnings = plan_warnings(&out.stdout);
        assert_eq!(
            warnings[warnings.len() - 2..],
            expected,
            "{args:?}\n{}",
            out.stdout
        );
        // JSON carries them too.
        let out = xzup()
            .args(["-C"])
            .args([&dir])
            .args(["--format", "json"])
            .args(args)
            .run()
            .success();
        let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let json: Vec<&str> = doc["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap())
            .collect();
        assert_eq!(json[json.len() - 2..], expected, "{args:?}");
    }
    assert_eq!(snapshot(tmp.path()), before, "nothing changed");

    // A run in progress in a live xzup: the lock is held (here by the test itself).
    fs::remove_dir_all(&bad).unwrap();
    let lock = fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".xzup/lock"))
        .unwrap();
    use std::os::fd::AsRawFd;
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let out = xzup()
        .args(["-C"])
        .args([&dir])
        .args(["plan", "--tier", "high"])
        .run()
        .success();
    assert_eq!(
        plan_warnings(&out.stdout).last().unwrap(),
        "`xzup apply` would refuse: run `20261126-080000-apply-ultra` is in progress, at `backup`, in another xzup (no record yet); `xzup status` shows where it stands"
    );
    drop(lock);
}

/// `xzup status` in `dir` (no engine: the containers are unknown).
fn status(dir: &Path) -> Vec<String> {
    let out = xzup()
        .args(["-C"])
        .args([dir])
        .args(["status"])
        .run()
        .success();
    out.stdout
        .lines()
        .filter(|l| !l.starts_with("Deployment:") && !l.starts_with("Roles:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn status_says_an_unreadable_lock_record_is_unreadable() {
    let (_tmp, dir) = deployment();
    fs::create_dir_all(dir.join(".xzup")).unwrap();
    fs::write(dir.join(".xzup/lock"), "\0\0garbage{").unwrap();
    assert_eq!(
        status(&dir),
        [
            "Active file: docker-compose-offline.yml",
            "Tier:        low",
            "Lock:        not held, but its record `.xzup/lock` cannot be read; `xzup unlock` clears it",
            "Containers:  unknown (no Docker engine answers)",
        ]
    );
}

#[test]
fn status_names_a_fallback_file_and_every_unfinished_run() {
    let (_tmp, dir) = deployment();
    // The file xzup activated is gone: the default name is what is read.
    fs::create_dir_all(dir.join(".xzup")).unwrap();
    fs::write(
        dir.join(".xzup/state.json"),
        r#"{"active_compose": "docker-compose-high.yml", "tier": "high"}"#,
    )
    .unwrap();
    let second = crate::journal::INTERRUPTED
        .replace("20261126-080000-apply-ultra", "20261127-080000-apply-ultra")
        .replace("2026-11-26", "2026-11-27");
    crate::journal::put_journal(
        &dir,
        "20261126-080000-apply-ultra",
        crate::journal::INTERRUPTED,
    );
    crate::journal::put_journal(&dir, "20261127-080000-apply-ultra", &second);
    crate::journal::put_journal(&dir, "20261128-080000-apply-ultra", "[]");
    let bad = dir.join(".xzup/runs/20261128-080000-apply-ultra");
    assert_eq!(
        status(&dir),
        [
            "Active file: docker-compose-offline.yml (found by its name: `docker-compose-high.yml`, the file xzup activated, is missing)".to_string(),
            "Tier:        low".into(),
            "Lock:        free".into(),
            "Unfinished:  run 20261127-080000-apply-ultra stopped at `backup`: run `xzup resume` or `xzup rollback`".into(),
            "Unfinished:  run 20261126-080000-apply-ultra stopped at `backup`: run `xzup resume` or `xzup rollback`".into(),
            format!("Journal:     the journal `{0}/journal.json` is damaged: invalid length 0, expected struct Version with 1 element at line 1 column 2 (xzup writes journals atomically, so something else changed this file; look at it, and if that run no longer matters move its directory out of the way: `mv {0} /tmp/`)", bad.display()),
            "Containers:  unknown (no Docker engine answers)".into(),
        ]
    );
}

#[test]
fn status_shows_the_tier_of_the_tiers_file_the_last_run_applied() {
    let (_tmp, dir) = deployment();
    let tiers = crate::e2e_upgrade::tiers_file();
    // What `commit` leaves after `apply --tiers-file FILE --tier grow` (the run itself is
    // the end-to-end test's): the file rendered for `grow`, and the state naming both.
    xzup()
        .args(["-C"])
        .args([&dir])
        .arg_path("--tiers-file", &tiers)
        .args(["render", "--tier", "grow", "-o"])
        .args([dir.join("docker-compose-grow.yml")])
        .run()
        .success();
    fs::create_dir_all(dir.join(".xzup")).unwrap();
    let state = serde_json::json!({
        "active_compose": "docker-compose-grow.yml",
        "tier": "grow",
        "tiers_file": tiers,
        "last_run": "20261124-100000-apply-grow",
    });
    fs::write(dir.join(".xzup/state.json"), state.to_string()).unwrap();
    assert_eq!(
        status(&dir)[..2],
        [
            "Active file: docker-compose-grow.yml (activated by xzup)".to_string(),
            format!("Tier:        grow (tiers file {})", tiers.display()),
        ]
    );
    // The recorded tiers file gone: said, and the built-in tiers used.
    let moved = dir.join("tiers-moved.toml");
    let state = state
        .to_string()
        .replace(&tiers.display().to_string(), &moved.display().to_string());
    fs::write(dir.join(".xzup/state.json"), state).unwrap();
    let lines = status(&dir);
    assert_eq!(lines[1], "Tier:        custom (no tier's settings)");
    assert!(
        lines[2].starts_with(&format!(
            "             the last run applied tier `grow` of {}, which cannot be read now (",
            moved.display()
        )),
        "{lines:?}"
    );
}

/// Issue 10, defect 12, end to end: a source already named `docker-compose-grow.yml`,
/// upgraded to `grow`, is rewritten in place with the original kept aside (and in the run
/// dir), as the plan says; a rollback writes the original back.
#[test]
fn e2e_apply_rewrites_a_source_named_for_the_tier_in_place_and_rollback_restores_it() {
    if !crate::harness::docker_available() {
        return;
    }
    let seed = crate::e2e_upgrade::on_tier(&crate::stack::upstream_fast(), "seed");
    let stack = crate::stack::TestStack::builder(&seed)
        .file_name("docker-compose-grow.yml")
        .build();
    let source = stack.dir().join("docker-compose-grow.yml");
    let x = || crate::e2e_upgrade::xzup(&stack).args(["-f", "docker-compose-grow.yml"]);
    let out = x().args(["plan", "--tier", "grow"]).run().success();
    assert!(
        out.stdout
            .contains("replace docker-compose-grow.yml (the source) with the new file"),
        "{}",
        out.stdout
    );
    let out = x()
        .args(["apply", "--tier", "grow", "--verify-window", "2"])
        .run()
        .success();
    let said: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("is the source: rewritten in place"))
        .collect();
    assert_eq!(said.len(), 1, "{}", out.stderr);
    let kept: Vec<PathBuf> = fs::read_dir(stack.dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("docker-compose-grow.yml.xzup-quarantine-")
        })
        .collect();
    assert_eq!(kept.len(), 1, "{}", out.stderr);
    assert_eq!(
        fs::read_to_string(&kept[0]).unwrap(),
        seed,
        "the original, kept"
    );
    assert!(
        said[0].contains(&kept[0].display().to_string()),
        "{}",
        said[0]
    );
    assert_ne!(
        fs::read_to_string(&source).unwrap(),
        seed,
        "rewritten in place"
    );
    x().args(["rollback"]).run().success();
    assert_eq!(
        fs::read_to_string(&source).unwrap(),
        seed,
        "the original is back"
    );
}
