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

fn cases() -> Vec<Case> {
    vec![
        // ---- flags and values ----
        case(
            "unknown subcommand",
            &["upgrade"],
            64,
            "unrecognized subcommand 'upgrade'",
            HELP,
        ),
        case(
            "unknown flag",
            &["plan", "--tier", "high", "--frobnicate"],
            64,
            "unexpected argument '--frobnicate'",
            HELP,
        ),
        case(
            "tier missing",
            &["plan"],
            64,
            "the following required arguments were not provided",
            HELP,
        ),
        case(
            "unknown tier",
            &["plan", "--tier", "bogus"],
            1,
            "unknown tier `bogus`",
            "the tiers are: low, high, ultra, extreme",
        ),
        case(
            "empty tier name",
            &["plan", "--tier", ""],
            1,
            "unknown tier ``",
            "the tiers are: low, high, ultra, extreme",
        ),
        case(
            "tier name with a path",
            &["render", "--tier", "../high"],
            1,
            "unknown tier `../high`",
            "the tiers are:",
        ),
        case(
            "tier name in capitals",
            &["plan", "--tier", "HIGH"],
            1,
            "unknown tier `HIGH`",
            "the tiers are:",
        ),
        case(
            "apply to an unknown tier",
            &["apply", "--tier", "bogus"],
            1,
            "unknown tier `bogus`",
            "the tiers are:",
        )
        .fake_docker(),
        case(
            "--only an unknown role",
            &["plan", "--tier", "high", "--only", "cache"],
            64,
            "--only: unknown role `cache`",
            "list roles separated by commas",
        ),
        case(
            "--only nothing",
            &["plan", "--tier", "high", "--only", ""],
            64,
            "--only: no role given",
            "list roles separated by commas",
        ),
        case(
            "apply --only an unknown role",
            &["apply", "--tier", "high", "--only", "nope"],
            64,
            "--only: unknown role `nope`",
            "list roles separated by commas",
        )
        .fake_docker(),
        case(
            "--service without a service",
            &["--service", "db", "plan", "--tier", "high"],
            64,
            "--service: no service name given for role `db`",
            ROLES_HINT,
        ),
        case(
            "--service of an unknown role",
            &["--service", "cache=x", "plan", "--tier", "high"],
            64,
            "--service: unknown role `cache`",
            ROLES_HINT,
        ),
        case(
            "--service without a role",
            &["--service", "=x", "plan", "--tier", "high"],
            64,
            "--service: unknown role ``",
            ROLES_HINT,
        ),
        case(
            "--service to a missing service",
            &["--service", "db=nosuch", "plan", "--tier", "high"],
            64,
            "maps the db role to `nosuch`, which is not a service",
            "name one of them",
        ),
        case(
            "--service: one service, two roles",
            &[
                "--service",
                "db=xiaozhi-esp32-server-db",
                "--service",
                "redis=xiaozhi-esp32-server-db",
                "plan",
                "--tier",
                "high",
            ],
            64,
            "are both mapped to service `xiaozhi-esp32-server-db`",
            ROLES_HINT,
        ),
        case(
            "--service: one role twice",
            &[
                "--service",
                "db=xiaozhi-esp32-server-db",
                "--service",
                "db=xiaozhi-esp32-server-redis",
                "plan",
                "--tier",
                "high",
            ],
            64,
            "the db role is mapped twice",
            ROLES_HINT,
        ),
        case(
            "--format yaml",
            &["--format", "yaml", "plan", "--tier", "high"],
            64,
            "invalid value 'yaml' for '--format <FORMAT>'",
            VALUES,
        ),
        case(
            "--color pink",
            &["--color", "pink", "tiers"],
            64,
            "invalid value 'pink' for '--color <COLOR>'",
            VALUES,
        ),
        case(
            "--dir twice",
            &["-C", "/nonexistent", "plan", "--tier", "high"],
            64,
            "'--dir <DIR>' cannot be used multiple times",
            HELP,
        ),
        case(
            "--keep 0",
            &["backups", "prune", "--keep", "0"],
            64,
            "0 would leave no backup: keep at least 1",
            HELP,
        ),
        case(
            "--keep -1",
            &["backups", "prune", "--keep", "-1"],
            64,
            "unexpected argument '-1' found",
            HELP,
        ),
        case(
            "--keep many",
            &["backups", "prune", "--keep", "many"],
            64,
            "`many` is not a count: give a whole number, 1 or more",
            HELP,
        ),
        case(
            "--keep missing",
            &["backups", "prune"],
            64,
            "the following required arguments were not provided",
            HELP,
        ),
        case(
            "--level 0",
            &["backup", "--level", "0"],
            64,
            "0 is not in 1..=9",
            HELP,
        ),
        case(
            "--level 12",
            &["backup", "--level", "12"],
            64,
            "12 is not in 1..=9",
            HELP,
        ),
        case(
            "--level fast",
            &["backup", "--level", "fast"],
            64,
            "invalid value 'fast' for '--level <N>'",
            HELP,
        ),
        case(
            "--wait-timeout minus",
            &["resume", "--wait-timeout", "-5"],
            64,
            "unexpected argument '-5' found",
            HELP,
        ),
        case(
            "--restore-data sometimes",
            &["rollback", "--restore-data", "sometimes"],
            64,
            "invalid value 'sometimes' for '--restore-data",
            VALUES,
        ),
        // ---- compose files ----
        case(
            "no compose file",
            &["plan", "--tier", "high"],
            1,
            "no compose file in `",
            "name the compose file with `-f FILE`",
        )
        .setup(|d| fs::remove_file(d.join(ALL)).unwrap()),
        case(
            "-f a missing file",
            &["-f", "nope.yml", "plan", "--tier", "high"],
            1,
            "nope.yml` does not exist",
            "check the path given with `-f FILE`",
        ),
        case(
            "-f a directory",
            &["-f", "d/data", "plan", "--tier", "high"],
            1,
            "/d/data` is not a file",
            "check the path given with `-f FILE`",
        ),
        case(
            "-f a dangling symlink",
            &["-f", "d/link.yml", "plan", "--tier", "high"],
            1,
            "link.yml` does not exist",
            "check the path given with `-f FILE`",
        )
        .setup(|d| std::os::unix::fs::symlink("/nonexistent", d.join("link.yml")).unwrap()),
        case(
            "empty compose file",
            &["plan", "--tier", "high"],
            1,
            "is not a compose file: it is empty",
            NOT_COMPOSE,
        )
        .setup(|d| put(d, ALL, "")),
        case(
            "render an empty compose file",
            &["render", "--tier", "high"],
            1,
            "is not a compose file: it is empty",
            NOT_COMPOSE,
        )
        .setup(|d| put(d, ALL, "")),
        case(
            "binary compose file",
            &["plan", "--tier", "high"],
            1,
            "stream did not contain valid UTF-8",
            "hint:",
        )
        .setup(|d| {
            put(
                d,
                ALL,
                (0..3000u32)
                    .map(|i| (i * 131 % 256) as u8)
                    .collect::<Vec<u8>>(),
            )
        }),
        case(
            "UTF-16 compose file",
            &["plan", "--tier", "high"],
            1,
            "stream did not contain valid UTF-8",
            "hint:",
        )
        .setup(|d| put(d, ALL, b"\xff\xfes\x00e\x00")),
        case(
            "a 5 MB line and no services",
            &["plan", "--tier", "high"],
            1,
            "it has no `services:`",
            NOT_COMPOSE,
        )
        .setup(|d| put(d, ALL, format!("x: {}\n", "a".repeat(5 << 20)))),
        case(
            "a 5 MB service name",
            &["plan", "--tier", "high"],
            1,
            "mapping values are not allowed in this context",
            FIX_YAML,
        )
        .setup(|d| {
            put(
                d,
                ALL,
                format!("services:\n  {}:\n    image: x\n", "s".repeat(5 << 20)),
            )
        }),
        case(
            "no services",
            &["plan", "--tier", "high"],
            1,
            "it has no `services:`",
            NOT_COMPOSE,
        )
        .setup(|d| put(d, ALL, "version: '3'\n")),
        case(
            "services is a number",
            &["plan", "--tier", "high"],
            1,
            "`services:` is not a mapping of services",
            NOT_COMPOSE,
        )
        .setup(|d| put(d, ALL, "services: 3\n")),
        case(
            "top level is a list",
            &["plan", "--tier", "high"],
            1,
            "its top level is not a mapping of keys",
            NOT_COMPOSE,
        )
        .setup(|d| put(d, ALL, "- a\n- b\n")),
        case(
            "duplicate top-level key",
            &["plan", "--tier", "high"],
            1,
            "duplicate entry with key \"services\"",
            FIX_YAML,
        )
        .setup(|d| {
            put(
                d,
                ALL,
                "services:\n  a:\n    image: x\nservices:\n  b:\n    image: y\n",
            )
        }),
        case(
            "duplicate key in a service",
            &["plan", "--tier", "high"],
            1,
            "services.a: duplicate entry with key \"image\"",
            FIX_YAML,
        )
        .setup(|d| put(d, ALL, "services:\n  a:\n    image: x\n    image: y\n")),
        case(
            "tab-indented",
            &["plan", "--tier", "high"],
            1,
            "found character that cannot start any token",
            FIX_YAML,
        )
        .setup(|d| put(d, ALL, "services:\n\ta:\n\t\timage: x\n")),
        case(
            "merge of an unknown anchor",
            &["plan", "--tier", "high"],
            1,
            "unknown anchor",
            FIX_YAML,
        )
        .setup(|d| put(d, ALL, "services:\n  db:\n    <<: *nope\n")),
        case(
            "unclosed flow mapping",
            &["render", "--tier", "high"],
            1,
            "did not find expected ',' or '}'",
            FIX_YAML,
        )
        .setup(|d| put(d, ALL, "services:\n  a: {image: x\n")),
        case(
            "two YAML documents",
            &["plan", "--tier", "high"],
            1,
            "more than one document",
            FIX_YAML,
        )
        .setup(|d| put(d, ALL, "services: {}\n---\nservices: {}\n")),
        case(
            "offline: duplicate key",
            &["plan", "--tier", "high"],
            1,
            "duplicate entry with key",
            FIX_YAML,
        )
        .offline()
        .setup(|d| {
            let path = d.join("docker-compose-offline.yml");
            let text = fs::read_to_string(&path).unwrap();
            fs::write(path, format!("{text}\nservices:\n  x:\n    image: y\n")).unwrap();
        }),
        // ---- xzup.toml and tiers files ----
        case(
            "xzup.toml not TOML",
            &["plan", "--tier", "high"],
            1,
            "xzup.toml` is not valid: unclosed array",
            TOML_HINT,
        )
        .setup(|d| put(d, "xzup.toml", "services = [\n")),
        case(
            "xzup.toml unknown key",
            &["plan", "--tier", "high"],
            1,
            "unknown field `frobnicate`",
            TOML_HINT,
        )
        .setup(|d| put(d, "xzup.toml", "frobnicate = 1\n")),
        case(
            "xzup.toml unknown role",
            &["plan", "--tier", "high"],
            64,
            "xzup.toml: unknown role `cache`",
            ROLES_HINT,
        )
        .setup(|d| put(d, "xzup.toml", "[services]\ncache = \"x\"\n")),
        case(
            "xzup.toml maps a missing service",
            &["plan", "--tier", "high"],
            64,
            "xzup.toml maps the db role to `nosuch`",
            "name one of them",
        )
        .setup(|d| put(d, "xzup.toml", "[services]\ndb = \"nosuch\"\n")),
        case(
            "xzup.toml names a missing tiers file",
            &["plan", "--tier", "high"],
            1,
            "nope.toml`: No such file or directory",
            TIERS_PATH,
        )
        .setup(|d| put(d, "xzup.toml", "tiers_file = \"nope.toml\"\n")),
        case(
            "--tiers-file missing",
            &["--tiers-file", "nope.toml", "plan", "--tier", "high"],
            1,
            "cannot read tiers file `nope.toml`",
            TIERS_PATH,
        ),
        case(
            "--tiers-file a directory",
            &["--tiers-file", "d/data", "tiers"],
            1,
            "Is a directory",
            TIERS_PATH,
        ),
        case(
            "--tiers-file binary",
            &["--tiers-file", "d/t.toml", "tiers"],
            1,
            "stream did not contain valid UTF-8",
            TIERS_PATH,
        )
        .setup(|d| put(d, "t.toml", [0xffu8, 0xfe, 0x00, 0x80])),
        case(
            "--tiers-file empty",
            &["--tiers-file", "d/t.toml", "plan", "--tier", "high"],
            1,
            "t.toml:1:1: the file defines no tiers",
            "add a `[tiers.NAME]` table",
        )
        .setup(|d| put(d, "t.toml", "")),
        case(
            "--tiers-file not TOML",
            &["--tiers-file", "d/t.toml", "plan", "--tier", "high"],
            1,
            "invalid TOML: unclosed table",
            TIERS_TOML,
        )
        .setup(|d| put(d, "t.toml", "[tiers.x\n")),
        case(
            "--tiers-file duplicate key",
            &["--tiers-file", "d/t.toml", "tiers"],
            1,
            "invalid TOML: duplicate key",
            TIERS_TOML,
        )
        .setup(|d| put(d, "t.toml", "[tiers.low]\nlabel = \"a\"\nlabel = \"b\"\n")),
        case(
            "--tiers-file bad size",
            &["--tiers-file", "d/t.toml", "tiers"],
            1,
            "is not a valid memory size",
            "write a number with a unit, like `512M`",
        )
        .setup(|d| tiers_with(d, "memory = \"2G\"", "memory = \"lots\"")),
        case(
            "--tiers-file unknown key",
            &["--tiers-file", "d/t.toml", "tiers"],
            1,
            "unknown key `labl`",
            "the keys allowed in `tiers.low` are",
        )
        .setup(|d| tiers_with(d, "[tiers.low]\nlabel = ", "[tiers.low]\nlabl = ")),
        case(
            "--tiers-file unknown role",
            &["--tiers-file", "d/t.toml", "tiers"],
            1,
            "unknown role `cache` in tier `low`",
            "a tier has one table per role",
        )
        .setup(|d| tiers_with(d, "[tiers.low.redis]", "[tiers.low.cache]")),
        case(
            "--tiers-file bad tier name",
            &["--tiers-file", "d/t.toml", "tiers"],
            1,
            "`lo w` cannot be a tier name",
            "use letters, digits, `-` and `_`",
        )
        .setup(|d| tiers_with(d, "[tiers.low]", "[tiers.\"lo w\"]")),
        // ---- backups, restore, verify ----
        case(
            "restore a missing archive",
            &["restore", "@D/backups/nope.tar.gz"],
            1,
            "nope.tar.gz`: No such file or directory",
            NO_ARCHIVE,
        ),
        case(
            "restore a text file",
            &["restore", "@D/backups/x.tar.gz"],
            1,
            "is not an xzup backup",
            NOT_XZUP,
        )
        .setup(|d| put(d, "backups/x.tar.gz", "hello\n")),
        case(
            "restore a plain tar.gz",
            &["restore", "@D/p.tar.gz"],
            1,
            "its first member is `data/`, not `.xzup/manifest.json`",
            NOT_XZUP,
        )
        .setup(|d| {
            let ok = std::process::Command::new("tar")
                .arg("-czf")
                .arg(d.join("p.tar.gz"))
                .arg("-C")
                .arg(d)
                .arg("data")
                .status()
                .unwrap();
            assert!(ok.success());
        }),
        case(
            "restore a directory",
            &["restore", "@D/data"],
            1,
            "Is a directory",
            NOT_XZUP,
        ),
        case(
            "restore the compose file",
            &["restore", "@D/docker-compose_all.yml"],
            1,
            "is not an xzup backup: invalid gzip header",
            NOT_XZUP,
        ),
        case(
            "restore a corrupt archive",
            &["restore", "@D/backups/b.tar.gz"],
            1,
            "does not match its manifest: member `",
            UNTRUSTED,
        )
        .setup(corrupt_backup),
        case(
            "restore --to a missing archive",
            &["restore", "@D/nope.tar.gz", "--to", "@D/elsewhere"],
            1,
            "No such file or directory",
            NO_ARCHIVE,
        ),
        case(
            "verify a missing archive",
            &["backups", "verify", "@D/nope.tar.gz"],
            1,
            "No such file or directory",
            NO_ARCHIVE,
        ),
        case(
            "verify an empty file",
            &["backups", "verify", "@D/x.tar.gz"],
            1,
            "is not an xzup backup",
            NOT_XZUP,
        )
        .setup(|d| put(d, "x.tar.gz", "")),
        case(
            "verify a directory",
            &["backups", "verify", "@D/data"],
            1,
            "Is a directory",
            NOT_XZUP,
        ),
        case(
            "backup --include missing",
            &["backup", "--include", "nope"],
            64,
            "`nope` (--include): it does not exist",
            INCLUDE,
        ),
        case(
            "backup --include outside",
            &["backup", "--include", "/etc"],
            64,
            "`/etc` (--include): lies outside the deployment dir",
            INCLUDE,
        ),
        case(
            "backup --include ..",
            &["backup", "--include", "../x"],
            64,
            "`../x` (--include): lies outside the deployment dir",
            INCLUDE,
        ),
        // ---- journals and state ----
        case(
            "rollback with nothing to roll back",
            &["rollback"],
            1,
            "no successful upgrade to roll back",
            HISTORY,
        )
        .fake_docker(),
        case(
            "rollback an unknown run",
            &["rollback", RUN],
            1,
            "no run `20260101-000000-apply-high`",
            HISTORY,
        )
        .fake_docker(),
        case(
            "resume with nothing to resume",
            &["resume"],
            1,
            "there is no unfinished run to resume",
            HISTORY,
        )
        .fake_docker(),
        case(
            "resume, runs dir empty",
            &["resume"],
            1,
            "there is no unfinished run to resume",
            HISTORY,
        )
        .fake_docker()
        .setup(|d| {
            used(d);
            fs::create_dir_all(d.join(".xzup/runs")).unwrap();
        }),
        case(
            "rollback, runs dir empty",
            &["rollback"],
            1,
            "no successful upgrade to roll back",
            HISTORY,
        )
        .fake_docker()
        .setup(|d| {
            used(d);
            fs::create_dir_all(d.join(".xzup/runs")).unwrap();
        }),
        case(
            "resume, runs is a file",
            &["resume"],
            1,
            ".xzup/runs`: Not a directory",
            MOVE_ASIDE,
        )
        .fake_docker()
        .setup(|d| {
            used(d);
            put(d, ".xzup/runs", "x");
        }),
        case(
            "rollback, runs is a file",
            &["rollback"],
            1,
            ".xzup/runs`: Not a directory",
            MOVE_ASIDE,
        )
        .fake_docker()
        .setup(|d| {
            used(d);
            put(d, ".xzup/runs", "x");
        }),
        case(
            "resume, journal is a directory",
            &["resume"],
            1,
            "journal.json`: Is a directory",
            MOVE_ASIDE,
        )
        .fake_docker()
        .setup(|d| {
            used(d);
            fs::create_dir_all(d.join(format!(".xzup/runs/{RUN}/journal.json"))).unwrap();
        }),
        case(
            "resume, journal cut short",
            &["resume"],
            1,
            "is damaged: EOF while parsing an object",
            DAMAGED,
        )
        .fake_docker()
        .setup(|d| journal(d, "{")),
        case(
            "rollback, journal empty",
            &["rollback"],
            1,
            "is damaged: EOF while parsing a value",
            DAMAGED,
        )
        .fake_docker()
        .setup(|d| journal(d, "")),
        case(
            "rollback, journal binary",
            &["rollback"],
            1,
            "is damaged",
            DAMAGED,
        )
        .fake_docker()
        .setup(|d| journal(d, "\u{0}\u{1}\u{2}")),
        case(
            "resume, journal from the future",
            &["resume"],
            1,
            "has format version 99; this xzup reads up to version 1",
            "use the newer xzup that wrote it",
        )
        .fake_docker()
        .setup(|d| journal(d, "{\"schema\": 99}")),
        case(
            "prune, lock is a directory",
            &["backups", "prune", "--keep", "1"],
            1,
            "cannot open the lock `",
            MOVE_ASIDE,
        )
        .setup(|d| {
            fs::create_dir_all(d.join(".xzup/lock")).unwrap();
            fs::set_permissions(d.join(".xzup"), fs::Permissions::from_mode(0o700)).unwrap();
        }),
        // ---- a locked deployment ----
        case(
            "restore while locked",
            &["restore", "@D/backups/b.tar.gz"],
            1,
            HELD,
            WAIT,
        )
        .setup(backed_up)
        .locked(),
        case(
            "restore --to the deployment while locked",
            &["restore", "@D/backups/b.tar.gz", "--to", "@D"],
            1,
            HELD,
            WAIT,
        )
        .setup(backed_up)
        .locked(),
        case("backup while locked", &["backup"], 1, HELD, WAIT)
            .setup(backed_up)
            .locked(),
        case(
            "prune while locked",
            &["backups", "prune", "--keep", "1"],
            1,
            HELD,
            WAIT,
        )
        .setup(backed_up)
        .locked(),
        case(
            "apply while locked",
            &["apply", "--tier", "high"],
            1,
            HELD,
            WAIT,
        )
        .setup(backed_up)
        .locked()
        .fake_docker(),
        case("resume while locked", &["resume"], 1, HELD, WAIT)
            .locked()
            .fake_docker()
            .setup(|d| {
                used(d);
                fs::create_dir_all(d.join(".xzup/runs")).unwrap();
            }),
        case("rollback while locked", &["rollback"], 1, HELD, WAIT)
            .locked()
            .fake_docker()
            .setup(|d| {
                used(d);
                fs::create_dir_all(d.join(".xzup/runs")).unwrap();
            }),
        case("unlock while locked", &["unlock"], 1, HELD, WAIT).locked(),
    ]
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
        let changed: Vec<String> = before
            .keys()
            .chain(after.keys())
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
