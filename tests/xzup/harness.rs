//! A small harness: run the built binary in a directory, capture exit code and output.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The repository root (for `examples/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An example deployment under `examples/`.
pub fn example(name: &str) -> PathBuf {
    repo_root().join("examples").join(name)
}

/// Copies a directory tree (an example deployment) into `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        let ty = entry.file_type().unwrap();
        if ty.is_dir() {
            copy_tree(&entry.path(), &dest);
        } else if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &dest).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// One run of `xzup`, built fluently: `Xzup::new().dir(d).args(["plan", "--tier", "high"]).run()`.
pub struct Xzup {
    cmd: Command,
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Xzup {
    pub fn new() -> Xzup {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xzup"));
        cmd.env("NO_COLOR", "1")
            .env_remove("XZUP_TIERS_FILE")
            .env_remove("CLICOLOR_FORCE")
            .env("COLUMNS", "100");
        Xzup { cmd }
    }

    /// Runs in `dir` (the process's working directory).
    pub fn cwd(mut self, dir: &Path) -> Xzup {
        self.cmd.current_dir(dir);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Xzup
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// An option whose value is a path.
    pub fn arg_path(mut self, flag: &str, path: &Path) -> Xzup {
        self.cmd.arg(flag).arg(path);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Xzup {
        self.cmd.env(key, value);
        self
    }

    /// Stdout is a pipe nobody reads any more (`xzup … | head -0`): every write to it
    /// fails with EPIPE.
    pub fn closed_stdout(mut self) -> Xzup {
        self.cmd.stdout(closed_pipe());
        self
    }

    /// Stderr too is a pipe nobody reads.
    pub fn closed_stderr(mut self) -> Xzup {
        self.cmd.stderr(closed_pipe());
        self
    }

    /// Stdout goes to `to` (a file, `/dev/full`).
    pub fn stdout(mut self, to: impl Into<Stdio>) -> Xzup {
        self.cmd.stdout(to);
        self
    }

    /// Starts xzup without waiting (to signal it), its output captured.
    pub fn spawn(mut self) -> Child {
        self.cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("xzup starts")
    }

    /// Runs to the end and gives how the process ended (a signal too) and its stderr.
    pub fn run_status(mut self) -> (std::process::ExitStatus, String) {
        let out = self.cmd.output().expect("xzup runs");
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn run(mut self) -> Outcome {
        let out = self.cmd.output().expect("xzup runs");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// The write end of a pipe whose read end is already closed.
fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    writer
}

impl Outcome {
    /// How a spawned xzup ended.
    pub fn of(child: Child) -> Outcome {
        let out = child.wait_with_output().expect("xzup ends");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing the output when it differs.
    pub fn code(self, expected: i32) -> Outcome {
        assert_eq!(
            self.code, expected,
            "exit code {} (expected {expected})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    pub fn success(self) -> Outcome {
        self.code(0)
    }
}

/// Whether the end-to-end tests can run here. Without an engine they skip and say why,
/// except under `CI=true`, where a missing engine fails the test.
pub fn docker_available() -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but the Docker engine does not answer: run scripts/ensure-docker.sh");
    }
    eprintln!("skipped: no Docker engine answers `docker info` on this machine");
    false
}
