//! Running `docker` and `docker-compose`: argument vectors through duct, a time limit on
//! every call, secrets redacted from everything that can reach a message, and the engine's
//! own reason picked out of stderr.
//!
//! Why a process group: `docker compose …` is the docker CLI running the Compose plugin as
//! its own child. Killing only the CLI on a timeout would leave the plugin running and
//! holding our stdout/stderr pipes, so the wait for the captured output would hang (duct's
//! `kill` reaches only the processes it spawned). Each call therefore starts in a new
//! process group, and a timeout signals the whole group.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::Duration;

use super::DockerError;
use crate::secrets::Redactor;

/// How many stderr lines a failure keeps.
const STDERR_TAIL_LINES: usize = 20;
/// After SIGTERM on a timeout, how long the group gets before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(3);

/// One command to run: program, arguments, extra environment, time limit.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub envs: Vec<(OsString, OsString)>,
    pub dir: Option<PathBuf>,
    pub timeout: Duration,
}

impl Invocation {
    pub fn new<I, S>(program: impl AsRef<OsStr>, args: I, timeout: Duration) -> Invocation
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Invocation {
            program: program.as_ref().to_os_string(),
            args: args
                .into_iter()
                .map(|a| a.as_ref().to_os_string())
                .collect(),
            envs: Vec::new(),
            dir: None,
            timeout,
        }
    }

    pub fn env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Invocation {
        self.envs
            .push((name.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }
}

/// What a finished command printed, and its exit code (`None`: killed by a signal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs `inv` and returns its output when it exits 0; any other end is a [`DockerError`].
pub(crate) fn run(inv: &Invocation, redactor: &Redactor) -> Result<Finished, DockerError> {
    let finished = run_unchecked(inv, redactor)?;
    if finished.success() {
        Ok(finished)
    } else {
        Err(failure(inv, redactor, &finished))
    }
}

/// Runs `inv` and returns how it ended, whatever the exit code. Fails only when it cannot
/// be started or runs out of time.
pub(crate) fn run_unchecked(
    inv: &Invocation,
    redactor: &Redactor,
) -> Result<Finished, DockerError> {
    let mut expr = duct::cmd(&inv.program, &inv.args)
        .stdin_null()
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .before_spawn(|cmd| {
            cmd.process_group(0);
            Ok(())
        });
    for (name, value) in &inv.envs {
        expr = expr.env(name, value);
    }
    if let Some(dir) = &inv.dir {
        expr = expr.dir(dir);
    }
    // `--verbose` shows each command as it starts (the printer shows these records).
    log::debug!("$ {}", command_line(redactor, inv));
    let started = std::time::Instant::now();
    let handle = start(&expr).map_err(|source| start_error(inv, redactor, source))?;
    let output = match handle.wait_timeout(inv.timeout) {
        Ok(Some(output)) => output,
        Ok(None) => {
            kill_group(&handle);
            return Err(DockerError::Timeout {
                command: command_line(redactor, inv),
                limit: inv.timeout,
            });
        }
        Err(source) => {
            return Err(DockerError::Spawn {
                command: command_line(redactor, inv),
                source,
            });
        }
    };
    let finished = Finished {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    if !finished.success() {
        log::debug!(
            "  {} after {:.1}s",
            super::exit_text(finished.code),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(finished)
}

/// Starts `expr`, retrying briefly on ETXTBSY: a program written just before (a test's
/// fake `docker`) can still be open for writing in a child another thread is forking.
fn start(expr: &duct::Expression) -> io::Result<duct::Handle> {
    let mut attempts = 0;
    loop {
        match expr.start() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempts < 10 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn start_error(inv: &Invocation, redactor: &Redactor, source: io::Error) -> DockerError {
    if source.kind() == io::ErrorKind::NotFound {
        DockerError::NotInstalled {
            program: inv.program.to_string_lossy().into_owned(),
        }
    } else {
        DockerError::Spawn {
            command: command_line(redactor, inv),
            source,
        }
    }
}

/// Stops a timed-out command: SIGTERM to its process group, SIGKILL after a grace period,
/// then reaps it.
fn kill_group(handle: &duct::Handle) {
    let signal_group = |signal: libc::c_int| {
        for pid in handle.pids() {
            // The child was started with `process_group(0)`, so its pid is its group id;
            // a negative pid addresses the group. The pid cannot have been reused: the
            // child is not reaped until `wait` below.
            // SAFETY: kill(2) takes plain integers and touches no memory of ours.
            unsafe {
                libc::kill(-(pid as libc::pid_t), signal);
            }
        }
    };
    signal_group(libc::SIGTERM);
    if matches!(handle.wait_timeout(TERM_GRACE), Ok(Some(_))) {
        return;
    }
    signal_group(libc::SIGKILL);
    let _ = handle.kill();
    let _ = handle.wait();
}

/// The error for a command that ran and exited non-zero.
pub(crate) fn failure(inv: &Invocation, redactor: &Redactor, finished: &Finished) -> DockerError {
    let stderr = redactor.redact(&strip_ansi(&finished.stderr));
    let command = command_line(redactor, inv);
    let err = if engine_unreachable(&stderr) {
        DockerError::EngineDown {
            command,
            reason: engine_reason(&stderr),
        }
    } else {
        DockerError::Failed {
            command,
            code: finished.code,
            reason: engine_reason(&stderr),
            stderr_tail: tail(&stderr, STDERR_TAIL_LINES),
        }
    };
    // The error names the engine's reason; `--verbose` shows the tail it came from.
    if let Some(tail) = err.stderr_tail() {
        log::debug!("{}", stderr_block(tail));
    }
    err
}

/// The stderr tail of a failed command, indented under its `$ command` line.
fn stderr_block(tail: &str) -> String {
    let mut block = String::from("  stderr:");
    for line in tail.lines() {
        block.push_str("\n    ");
        block.push_str(line);
    }
    block
}

/// Whether stderr says the engine did not answer (docker CLI, Compose v2 and v1 wordings).
pub(crate) fn engine_unreachable(stderr: &str) -> bool {
    const SIGNS: [&str; 4] = [
        "Cannot connect to the Docker daemon",
        "Is the docker daemon running",
        "error during connect",
        // Compose v1 (docker-py): "Couldn't connect to Docker daemon at http+docker://localhost - is it running?"
        "Couldn't connect to Docker daemon",
    ];
    SIGNS.iter().any(|sign| stderr.contains(sign))
}

/// The engine's own words from a failed command's stderr, without Compose's decoration.
///
/// - The daemon's answer follows `Error response from daemon:` (docker CLI, Compose v2);
///   that is the reason, e.g. `Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs
///   available`.
/// - Compose v1 writes `ERROR: for SERVICE  Cannot create container for service SERVICE:
///   REASON` and ends with the generic `Encountered errors while bringing up the project.`;
///   the last `ERROR:` block is the reason.
/// - Otherwise the last line that says `error`, else the last line at all. Warnings
///   (v2's `level=warning`, v1's `WARNING:`) are never the reason.
pub(crate) fn engine_reason(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !is_noise(l))
        .collect();
    const DAEMON: &str = "Error response from daemon:";
    if let Some(line) = lines.iter().rev().find(|l| l.contains(DAEMON)) {
        let at = line.find(DAEMON).unwrap_or(0) + DAEMON.len();
        return line[at..].trim().to_string();
    }
    if let Some(at) = lines.iter().rposition(|l| l.starts_with("ERROR:")) {
        let first = lines[at].trim_start_matches("ERROR:").trim();
        // `for SERVICE  REASON` (two spaces after the service name).
        let first = match first.strip_prefix("for ") {
            Some(rest) => rest
                .split_once("  ")
                .map_or(rest, |(_, reason)| reason)
                .trim(),
            None => first,
        };
        let mut reason = first.to_string();
        for more in &lines[at + 1..] {
            reason.push(' ');
            reason.push_str(more);
        }
        return reason;
    }
    if let Some(at) = lines
        .iter()
        .rposition(|l| l.to_ascii_lowercase().contains("error"))
    {
        let mut reason = lines[at].trim_start_matches("Error:").trim().to_string();
        // An announcement (`decoding failed due to the following error(s):`, Compose v2)
        // is followed by the actual errors.
        if reason.ends_with(':') {
            for more in &lines[at + 1..] {
                reason.push(' ');
                reason.push_str(more);
            }
        }
        return reason;
    }
    lines.last().map(|l| l.to_string()).unwrap_or_default()
}

fn is_noise(line: &str) -> bool {
    line.contains("level=warning")
        || line.starts_with("WARNING:")
        || line.starts_with("WARN[")
        || line == "Encountered errors while bringing up the project."
}

/// The last `n` lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Removes terminal colour and cursor sequences (`ESC [ … letter`).
pub(crate) fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The command line as a person would type it, secrets redacted, arguments with spaces or
/// quotes single-quoted. For messages only; commands never go through a shell.
pub(crate) fn command_line(redactor: &Redactor, inv: &Invocation) -> String {
    std::iter::once(inv.program.to_string_lossy().into_owned())
        .chain(
            inv.args
                .iter()
                .map(|a| redactor.redact_arg(&a.to_string_lossy())),
        )
        .map(|a| shell_quote(&a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+^{}*".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(args: &[&str]) -> Invocation {
        Invocation::new("docker", args, Duration::from_secs(5))
    }

    #[test]
    fn command_line_redacts_known_secrets_and_password_shapes() {
        let redactor = Redactor::new(["s3cret!", ""]);
        let line = command_line(
            &redactor,
            &inv(&[
                "exec",
                "-e",
                "MYSQL_PWD=hunter2",
                "db",
                "mysql",
                "-uroot",
                "-phunter2",
                "--password=hunter2",
                "-e",
                "SELECT 's3cret!'",
            ]),
        );
        assert_eq!(
            line,
            "docker exec -e MYSQL_PWD=******** db mysql -uroot -p******** --password=******** -e 'SELECT '\\''********'\\'''"
        );
    }

    #[test]
    fn compose_project_option_is_not_mistaken_for_a_password() {
        let redactor = Redactor::default();
        let line = command_line(
            &redactor,
            &inv(&[
                "compose",
                "--project-name=dep",
                "--project-directory",
                "/srv/x y",
                "-p",
                "up",
                "-d",
            ]),
        );
        assert_eq!(
            line,
            "docker compose --project-name=dep --project-directory '/srv/x y' -p up -d"
        );
    }

    #[test]
    fn reason_from_compose_v2_cpu_failure() {
        let stderr = "time=\"2026-11-25T19:35:39Z\" level=warning msg=\"cpu.yml: the attribute `version` is obsolete\"\n Network dep_default  Creating\n Network dep_default  Created\n Container r  Creating\n Container r  Error response from daemon: Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available\nError response from daemon: Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available\n";
        assert_eq!(
            engine_reason(stderr),
            "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
        );
    }

    #[test]
    fn reason_from_compose_v1_cpu_failure() {
        let stderr = "Creating network \"dep_default\" with the default driver\nCreating xiaozhi-esp32-server-redis ... error\n\nERROR: for xiaozhi-esp32-server-redis  Cannot create container for service xiaozhi-esp32-server-redis: Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available\nCreating xiaozhi-esp32-server-db    ... done\n\nERROR: for xiaozhi-esp32-server-redis  Cannot create container for service xiaozhi-esp32-server-redis: Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available\nEncountered errors while bringing up the project.\n";
        assert_eq!(
            engine_reason(stderr),
            "Cannot create container for service xiaozhi-esp32-server-redis: Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
        );
    }

    #[test]
    fn reason_from_v1_config_error_keeps_its_continuation_lines() {
        let stderr = "ERROR: The Compose file './x.yml' is invalid because:\nservices.db.deploy.resources.limits.cpus contains an invalid type\n";
        assert_eq!(
            engine_reason(stderr),
            "The Compose file './x.yml' is invalid because: services.db.deploy.resources.limits.cpus contains an invalid type"
        );
    }

    #[test]
    fn reason_from_v2_decoding_error_includes_the_errors_announced() {
        let stderr = "time=\"x\" level=warning msg=\"obsolete\"\ndecoding failed due to the following error(s):\n\n'services[db].deploy.resources.limits.cpus' strconv.ParseFloat: parsing \"lots\": invalid syntax\n";
        assert_eq!(
            engine_reason(stderr),
            "decoding failed due to the following error(s): 'services[db].deploy.resources.limits.cpus' strconv.ParseFloat: parsing \"lots\": invalid syntax"
        );
    }

    #[test]
    fn reason_falls_back_to_error_line_then_last_line() {
        assert_eq!(
            engine_reason("Error: No such object: nope\n"),
            "No such object: nope"
        );
        assert_eq!(engine_reason("something odd\nlast words\n"), "last words");
        assert_eq!(engine_reason(""), "");
    }

    #[test]
    fn engine_down_wordings() {
        assert!(engine_unreachable(
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
        ));
        assert!(engine_unreachable(
            "Couldn't connect to Docker daemon at http+docker://localhost - is it running?"
        ));
        assert!(!engine_unreachable("Error: No such container: x"));
    }

    #[test]
    fn ansi_sequences_are_stripped() {
        assert_eq!(
            strip_ansi("\u{1b}[31mERROR\u{1b}[0m: x\u{1b}[2K"),
            "ERROR: x"
        );
    }

    #[test]
    fn a_failures_stderr_is_indented_under_its_command() {
        assert_eq!(stderr_block("a\nb"), "  stderr:\n    a\n    b");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }

    #[test]
    fn failure_carries_redacted_command_code_reason_and_tail() {
        let redactor = Redactor::new(["pw123"]);
        let invocation = inv(&["exec", "db", "mysql", "-ppw123"]);
        let finished = Finished {
            code: Some(1),
            stdout: String::new(),
            stderr: "ERROR 1045 (28000): Access denied; tried pw123\n".to_string(),
        };
        match failure(&invocation, &redactor, &finished) {
            DockerError::Failed {
                command,
                code,
                reason,
                stderr_tail,
            } => {
                assert_eq!(command, "docker exec db mysql -p********");
                assert_eq!(code, Some(1));
                assert_eq!(reason, "ERROR 1045 (28000): Access denied; tried ********");
                assert_eq!(
                    stderr_tail,
                    "ERROR 1045 (28000): Access denied; tried ********"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn run_reports_exit_code_and_output() {
        let redactor = Redactor::default();
        let ok = run(
            &Invocation::new(
                "sh",
                ["-c", "echo out; echo err >&2"],
                Duration::from_secs(10),
            ),
            &redactor,
        )
        .unwrap();
        assert_eq!((ok.stdout.as_str(), ok.stderr.as_str()), ("out\n", "err\n"));
        let err = run(
            &Invocation::new(
                "sh",
                ["-c", "echo 'Error: boom' >&2; exit 3"],
                Duration::from_secs(10),
            ),
            &redactor,
        )
        .unwrap_err();
        assert!(
            matches!(&err, DockerError::Failed { code: Some(3), reason, .. } if reason == "boom"),
            "{err:?}"
        );
    }

    #[test]
    fn timeout_kills_the_whole_process_group() {
        // The grandchild (`sleep`) holds the pipes like a Compose plugin under `docker`;
        // the call must still come back right after the limit.
        let started = std::time::Instant::now();
        let err = run(
            &Invocation::new(
                "sh",
                ["-c", "sleep 30 & sleep 30; wait"],
                Duration::from_millis(300),
            ),
            &Redactor::default(),
        )
        .unwrap_err();
        assert!(
            matches!(&err, DockerError::Timeout { limit, .. } if *limit == Duration::from_millis(300)),
            "{err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_missing_program_is_reported_as_not_installed() {
        let err = run(
            &Invocation::new("/nonexistent/docker", ["info"], Duration::from_secs(1)),
            &Redactor::default(),
        )
        .unwrap_err();
        assert!(
            matches!(&err, DockerError::NotInstalled { program } if program == "/nonexistent/docker"),
            "{err:?}"
        );
    }
}
