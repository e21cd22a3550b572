//! Bad and unusual input, table-driven: each case runs one xzup command on a copy of an
//! example deployment and asserts a non-zero exit with the expected code, an error saying
//! what is wrong and a hint saying what to do (their key phrases), and that NOTHING changed
//! on disk: every path of the deployment dir (`.xzup/` included), with its type, mode,
//! size, content hash and link target, is the same after as before.
//!
//! No case needs the Docker engine. The few marked `fake_docker` run with a `docker` on
//! PATH that always fails: their point is an error found before the engine matters (an
//! `apply` refused for its arguments, its journal, its lock), and the fake makes sure a
//! case that went further could never touch a real stack.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::harness::{Xzup, copy_tree, example};

/// The compose file of `examples/upstream`.
const ALL: &str = "docker-compose_all.yml";
/// A run id for crafted journals.
const RUN: &str = "20260101-000000-apply-high";

struct Case {
    name: &'static str,
    /// `upstream` or `offline` (under `examples/`).
    fixture: &'static str,
    /// Makes the deployment unusual before the snapshot.
    setup: fn(&Path),
    /// `@D` stands for the deployment dir; the command runs with `-C @D`, in its parent.
    args: &'static [&'static str],
    code: i32,
    /// In the `error:` line.
    error: &'static str,
    /// What to do: in the `hint:` line (or clap's pointer to `--help`).
    hint: &'static str,
    fake_docker: bool,
    /// Another xzup holds the deployment lock while the case runs.
    locked: bool,
}

const fn case(
    name: &'static str,
    args: &'static [&'static str],
    code: i32,
    error: &'static str,
    hint: &'static str,
) -> Case {
    Case {
        name,
        fixture: "upstream",
        setup: |_| {},
        args,
        code,
        error,
        hint,
        fake_docker: false,
        locked: false,
    }
}

impl Case {
    const fn setup(mut self, setup: fn(&Path)) -> Case {
        self.setup = setup;
        self
    }
    const fn offline(mut self) -> Case {
        self.fixture = "offline";
        self
    }
    const fn fake_docker(mut self) -> Case {
        self.fake_docker = true;
        self
    }
    const fn locked(mut self) -> Case {
        self.locked = true;
        self
    }
}

fn put(dir: &Path, rel: &str, bytes: impl AsRef<[u8]>) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// A deployment xzup has worked on: `.xzup/` (0700) with its lock file (0600).
fn used(dir: &Path) {
    fs::create_dir_all(dir.join(".xzup")).unwrap();
    fs::set_permissions(dir.join(".xzup"), fs::Permissions::from_mode(0o700)).unwrap();
    let lock = dir.join(".xzup/lock");
    fs::write(&lock, "").unwrap();
    fs::set_permissions(&lock, fs::Permissions::from_mode(0o600)).unwrap();
}

/// A used deployment with one run whose journal is `text`.
fn journal(dir: &Path, text: &str) {
    used(dir);
    put(dir, &format!(".xzup/runs/{RUN}/journal.json"), text);
}

/// A used deployment with a MySQL datadir and one backup of it, `backups/b.tar.gz`.
fn backed_up(dir: &Path) {
    put(dir, "mysql/data/ibdata1", vec![7u8; 40_000]);
    put(
        dir,
        "mysql/data/xiaozhi_esp32_server/ai_agent.ibd",
        "rows ".repeat(999),
    );
    used(dir);
    Xzup::new()
        .args(["-C"])
        .args([dir])
        .args(["backup", "--out"])
        .args([dir.join("backups/b.tar.gz")])
        .run()
        .success();
}

/// Flips a byte in the compressed data of `backups/b.tar.gz`.
fn corrupt_backup(dir: &Path) {
    backed_up(dir);
    let path = dir.join("backups/b.tar.gz");
    let mut bytes = fs::read(&path).unwrap();
    let at = bytes.len() - 30;
    bytes[at] ^= 0xff;
    fs::write(path, bytes).unwrap();
}

fn tiers_with(dir: &Path, from: &str, to: &str) {
    let catalog =
        fs::read_to_string(crate::harness::repo_root().join("templates/tiers.toml")).unwrap();
    assert!(catalog.contains(from), "the catalog has no `{from}`");
    put(dir, "t.toml", catalog.replacen(from, to, 1));
}

const UTF8: &str = "Compose files are UTF-8 text: save it as UTF-8";
const VALUES: &str = "[possible values:";
const HELP: &str = "try '--help'";
const FIX_YAML: &str = "fix the file there; `docker compose config` shows the same error";
const NOT_COMPOSE: &str = "point xzup at the deployment's compose file with `-f FILE`";
const ROLES_HINT: &str = "map a role to a service of the compose file, one service per role";
const TOML_HINT: &str = "xzup.toml takes `tiers_file = \"FILE\"` and a `[services]` table";
const TIERS_PATH: &str = "check the path given with `--tiers-file`";
const TIERS_TOML: &str = "fix the TOML there; the format is described at the top";
const NOT_XZUP: &str = "xzup reads archives written by `xzup backup`";
const NO_ARCHIVE: &str = "`xzup backups list` shows the backups of this deployment";
const MOVE_ASIDE: &str = "xzup did not put that there: look at it, then move it out of the way";
const DAMAGED: &str = "move its directory out of the way: `mv ";
const HISTORY: &str = "`xzup history` lists the runs";
const HELD: &str = "another xzup run holds the lock of this deployment: `xzup backups prune` (pid ";
const WAIT: &str = "wait for that run to finish (`xzup status` shows it)";
const UNTRUSTED: &str = "this archive cannot be trusted: use an older backup";
const INCLUDE: &str = "give `--include` a path inside the deployment dir that exists";

mod files;
mod flags;
mod state;

fn cases() -> Vec<Case> {
    let mut all = flags::cases();
    all.extend(files::cases());
    all.extend(state::cases());
    all
}

/// Every path under `root` (bytes), with type, mode, size, content hash or link target.
fn snapshot(root: &Path) -> BTreeMap<Vec<u8>, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for child in fs::read_dir(&dir).unwrap() {
            let path = child.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec();
            let ft = meta.file_type();
            let what = if ft.is_symlink() {
                format!("symlink -> {}", fs::read_link(&path).unwrap().display())
            } else if ft.is_dir() {
                stack.push(path.clone());
                "dir".to_string()
            } else if ft.is_file() {
                format!(
                    "file sha256 {}",
                    hex::encode(Sha256::digest(fs::read(&path).unwrap()))
                )
            } else {
                "other".to_string()
            };
            out.insert(
                rel,
                format!(
                    "{what}, mode {:o}, size {}",
                    meta.mode(),
                    if ft.is_dir() { 0 } else { meta.len() }
                ),
            );
        }
    }
    out
}

/// A dir with a `docker` (and `docker-compose`) that always fails.
fn fake_docker_dir() -> tempfile::TempDir {
    let bin = tempfile::tempdir().unwrap();
    for name in ["docker", "docker-compose"] {
        let path = bin.path().join(name);
        fs::write(&path, "#!/bin/sh\necho 'fake docker: this case must fail before the engine matters' >&2\nexit 1\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

/// A real second xzup holding the lock of `dir` (paused by the test hook once it took it).
fn hold_lock(dir: &Path) -> std::process::Child {
    let child = Xzup::new()
        .args(["-C"])
        .args([dir])
        .env("XZUP_TEST_PAUSE_AT", "locked")
        .args(["backups", "prune", "--keep", "99"])
        .spawn();
    let until = Instant::now() + Duration::from_secs(20);
    let mine = format!("\"pid\":{}", child.id());
    while !fs::read_to_string(dir.join(".xzup/lock")).is_ok_and(|r| r.contains(&mine)) {
        assert!(
            Instant::now() < until,
            "the lock holder never wrote its record"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Runs one case; `Err` says what went wrong, naming the case.
fn run(case: &Case, fake: &Path) -> Result<(), String> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    copy_tree(&example(case.fixture), &dir);
    (case.setup)(&dir);
    let mut holder = case.locked.then(|| hold_lock(&dir));
    let before = snapshot(&dir);
    let d = dir.display().to_string();
    let args: Vec<String> = case.args.iter().map(|a| a.replace("@D", &d)).collect();
    let mut xzup = Xzup::new()
        .cwd(tmp.path())
        .args(["-C"])
        .args([&dir])
        .args(&args);
    if case.fake_docker {
        let path = std::env::var("PATH").unwrap_or_default();
        xzup = xzup.env("PATH", format!("{}:{path}", fake.display()));
    }
    let out = xzup.run();
    let after = snapshot(&dir);
    if let Some(holder) = holder.as_mut() {
        holder.kill().unwrap();
        holder.wait().unwrap();
    }
    let mut problems = Vec::new();
    if out.code != case.code {
        problems.push(format!("exit code {} (expected {})", out.code, case.code));
    }
    let error = out
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or("");
    if error.is_empty() || !error.contains(case.error) {
        problems.push(format!("no `error:` line with {:?}", case.error));
    }
    let hint_ok = if case.hint == HELP || case.hint == VALUES {
        out.stderr.contains(case.hint)
    } else {
        out.stderr
            .lines()
            .any(|l| l.starts_with("hint: ") && l.contains(case.hint))
    };
    if !hint_ok {
        problems.push(format!("no hint with {:?}", case.hint));
    }
    if before != after {
        let keys: std::collections::BTreeSet<&Vec<u8>> =
            before.keys().chain(after.keys()).collect();
        let changed: Vec<String> = keys
            .into_iter()
            .filter(|k| before.get(*k) != after.get(*k))
            .map(|k| {
                format!(
                    "{}: {:?} -> {:?}",
                    String::from_utf8_lossy(k),
                    before.get(k),
                    after.get(k)
                )
            })
            .collect();
        problems.push(format!(
            "the deployment dir changed: {}",
            changed.join("; ")
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!(
        "case `{}` (xzup -C DIR {}): {}\n--- stderr\n{}",
        case.name,
        case.args.join(" "),
        problems.join("; "),
        out.stderr
    ))
}

#[test]
fn bad_input_is_refused_clearly_and_changes_nothing() {
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    let fake = fake_docker_dir();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| run(c, fake.path()).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
