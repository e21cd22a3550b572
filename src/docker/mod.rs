//! The Docker driver: everything xzup asks of the Docker engine and of Compose.
//!
//! - [`Docker`] talks to the engine through the `docker` CLI: `info`, `inspect`, `stats`,
//!   `exec`, `logs`, images (engine.rs).
//! - [`Compose`] runs one Compose project — a flavour (v1 `docker-compose` or v2
//!   `docker compose`), a project name, the compose file and the project directory, all
//!   passed explicitly on every call so that `down` with the old file and `up` with the new
//!   one address the same containers (compose.rs).
//! - volume.rs: named volumes (inspect, find by Compose's labels, create).
//! - exec.rs runs the commands: argument vectors through duct (never a shell string), a
//!   time limit on every call, secrets redacted from every message, and the engine's own
//!   reason picked out of stderr.
//!
//! Nothing here prints; every failure is a [`DockerError`] that names the command (secrets
//! redacted), its exit code and the engine's reason.

mod compose;
mod engine;
mod exec;
mod images;
pub mod socket;
mod update;
mod volume;

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::Duration;

pub use compose::{
    COMPOSE_ENV, Compose, ComposeCli, DownOptions, Flavour, Project, ProjectSource, Wait,
};
#[cfg(feature = "fuzzing")]
pub(crate) use engine::parse_stats as fuzz_parse_stats;
pub use engine::{ContainerInfo, ContainerStats, HostInfo, RunOutput, ServiceState, parse_size};
pub use images::ImageInfo;
pub use volume::{VolumeInfo, compose_labels};

use crate::secrets::Redactor;
use exec::{Finished, Invocation};

/// Errors talking to Docker or Compose.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The program is not on PATH.
    #[error("`{program}` is not installed (not found on PATH)")]
    NotInstalled { program: String },

    /// The program exists but could not be started or waited for.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },

    /// The docker CLI answered, the engine did not.
    #[error("the Docker engine does not answer: {reason}")]
    EngineDown { command: String, reason: String },

    /// The command ran and failed; `reason` is the engine's own words.
    #[error("`{command}` failed ({}): {}", exit_text(*code), reason_text(reason))]
    Failed {
        command: String,
        code: Option<i32>,
        reason: String,
        /// The last lines of stderr (redacted), for `--verbose` output and logs.
        stderr_tail: String,
    },

    /// The command ran out of time and was stopped.
    #[error("`{command}` did not finish within {}; it was stopped", secs(*limit))]
    Timeout { command: String, limit: Duration },

    /// Neither Compose flavour answers (or not the one asked for).
    #[error("{}", compose_missing_text(*wanted))]
    ComposeMissing { wanted: Option<Flavour> },

    /// `XZUP_COMPOSE` holds something other than `v1` or `v2`.
    #[error("`{COMPOSE_ENV}={value}` is not a Compose flavour")]
    BadComposeChoice { value: String },

    /// A command printed something the driver cannot read.
    #[error("cannot read the output of `{command}`: {detail}")]
    Parse { command: String, detail: String },

    /// Containers of more than one Compose project were started from the deployment dir.
    #[error(
        "containers of several Compose projects were started from `{}`: {}",
        dir.display(),
        projects.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
    )]
    AmbiguousProject { dir: PathBuf, projects: Vec<String> },

    /// A service's container exited, keeps restarting, or its healthcheck failed.
    #[error(
        "service `{service}` (container `{container}`) {problem}{}",
        logs_text(container, logs)
    )]
    ServiceFailed {
        service: String,
        container: String,
        problem: String,
        /// The container's last log lines (redacted).
        logs: String,
    },

    /// Time ran out before every service ran and was healthy.
    #[error("services not ready after {}: {}", secs(*waited), pending.join("; "))]
    NotReady {
        waited: Duration,
        /// One line per service that was not ready: what it was doing.
        pending: Vec<String>,
    },
}

impl DockerError {
    /// What the operator should do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            DockerError::NotInstalled { program } if program.contains("compose") => Some(
                "install Docker Compose (`apt-get install docker-compose`, or the `docker compose` plugin)"
                    .to_string(),
            ),
            DockerError::NotInstalled { .. } => Some(
                "install Docker (`apt-get install docker.io`), or run `scripts/ensure-docker.sh`"
                    .to_string(),
            ),
            DockerError::EngineDown { .. } => Some(
                "start the engine (`systemctl start docker`, or `dockerd &`), or run `scripts/ensure-docker.sh`"
                    .to_string(),
            ),
            DockerError::Timeout { .. } => Some(
                "check the engine with `docker info` and `docker ps`; a larger time limit may help on a slow host"
                    .to_string(),
            ),
            DockerError::ComposeMissing { .. } => Some(format!(
                "install Compose v2 (`docker compose`) or v1 (`apt-get install docker-compose`); `{COMPOSE_ENV}=v1|v2` picks one"
            )),
            DockerError::BadComposeChoice { .. } => Some(format!(
                "set `{COMPOSE_ENV}=v1` (docker-compose) or `{COMPOSE_ENV}=v2` (docker compose), or unset it"
            )),
            DockerError::AmbiguousProject { projects, .. } => Some(format!(
                "set `COMPOSE_PROJECT_NAME` to the project xzup should manage (one of {}), or remove the other's containers",
                projects.join(", ")
            )),
            DockerError::ServiceFailed { container, .. } => Some(format!(
                "see `docker logs {container}` for the whole log"
            )),
            DockerError::NotReady { .. } => Some(
                "see `docker ps` and `docker logs CONTAINER`; `--wait-timeout` gives slow services more time"
                    .to_string(),
            ),
            DockerError::Failed { .. } | DockerError::Spawn { .. } | DockerError::Parse { .. } => {
                None
            }
        }
    }

    /// The last lines of the failed command's stderr, when there are any.
    pub fn stderr_tail(&self) -> Option<&str> {
        match self {
            DockerError::Failed { stderr_tail, .. } if !stderr_tail.is_empty() => Some(stderr_tail),
            _ => None,
        }
    }
}

fn exit_text(code: Option<i32>) -> String {
    match code {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".to_string(),
    }
}

fn reason_text(reason: &str) -> &str {
    if reason.is_empty() {
        "it printed no reason"
    } else {
        reason
    }
}

fn compose_missing_text(wanted: Option<Flavour>) -> String {
    match wanted {
        Some(flavour) => format!(
            "Compose {flavour} was asked for (`{COMPOSE_ENV}`) but `{}` does not answer",
            flavour.probe_hint()
        ),
        None => "no Docker Compose found: neither `docker compose version` nor `docker-compose version` answers".to_string(),
    }
}

fn logs_text(container: &str, logs: &str) -> String {
    if logs.trim().is_empty() {
        String::new()
    } else {
        let indented: Vec<String> = logs.lines().map(|l| format!("  {l}")).collect();
        format!(
            "\nlast log lines of `{container}`:\n{}",
            indented.join("\n")
        )
    }
}

/// `12s`, `1.5s`, `300ms`.
fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Time limits of the driver's calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// Quick questions: version, info, inspect, ps, image inspect, logs, config.
    pub query: Duration,
    /// `docker stats --no-stream` (samples for about two seconds).
    pub stats: Duration,
    /// `docker exec` checks inside a container.
    pub exec: Duration,
    /// `compose up -d`. Compose waits there for `depends_on: condition: service_healthy`,
    /// which on the upstream file can take up to 10 retries × 10 s of the db healthcheck.
    pub up: Duration,
    /// `compose down`: each container gets its stop timeout (10 s by default) before SIGKILL.
    pub down: Duration,
    /// `compose pull`: images of several hundred MB over a slow mirror.
    pub pull: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            query: Duration::from_secs(60),
            stats: Duration::from_secs(60),
            exec: Duration::from_secs(120),
            up: Duration::from_secs(600),
            down: Duration::from_secs(300),
            pull: Duration::from_secs(3600),
        }
    }
}

/// The docker CLI, with the secrets to keep out of messages and the time limits.
#[derive(Debug, Clone)]
pub struct Docker {
    program: OsString,
    redactor: Redactor,
    timeouts: Timeouts,
}

impl Default for Docker {
    fn default() -> Docker {
        Docker::new()
    }
}

impl Docker {
    /// `docker` from PATH, default time limits, no secrets yet.
    pub fn new() -> Docker {
        Docker {
            program: OsString::from("docker"),
            redactor: Redactor::default(),
            timeouts: Timeouts::default(),
        }
    }

    /// Another docker CLI program (tests use a fake one).
    pub fn with_program(mut self, program: impl AsRef<OsStr>) -> Docker {
        self.program = program.as_ref().to_os_string();
        self
    }

    /// Adds values that must never appear in a message (e.g. `ComposeFile::secrets()`).
    pub fn with_secrets<I, S>(mut self, secrets: I) -> Docker
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.redactor.add(secrets);
        self
    }

    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Docker {
        self.timeouts = timeouts;
        self
    }

    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    pub fn program(&self) -> &OsStr {
        &self.program
    }

    fn invocation<I, S>(&self, args: I, timeout: Duration) -> Invocation
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        // Newer CLIs print "What's next" hints after some commands; they are not output.
        Invocation::new(&self.program, args, timeout).env("DOCKER_CLI_HINTS", "false")
    }

    /// Runs `docker ARGS` and returns its output when it exits 0.
    fn run<I, S>(&self, args: I, timeout: Duration) -> Result<Finished, DockerError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        exec::run(&self.invocation(args, timeout), &self.redactor)
    }

    fn parse_error(&self, args: &[&str], detail: impl Into<String>) -> DockerError {
        DockerError::Parse {
            command: exec::command_line(&self.redactor, &self.invocation(args, Duration::ZERO)),
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_message_shows_the_engines_reason() {
        let err = DockerError::Failed {
            command: "docker compose up -d".to_string(),
            code: Some(1),
            reason: "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
                .to_string(),
            stderr_tail: "…".to_string(),
        };
        assert_eq!(
            err.to_string(),
            "`docker compose up -d` failed (exit code 1): Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
        );
        let silent = DockerError::Failed {
            command: "docker x".to_string(),
            code: None,
            reason: String::new(),
            stderr_tail: String::new(),
        };
        assert_eq!(
            silent.to_string(),
            "`docker x` failed (killed by a signal): it printed no reason"
        );
        assert_eq!(silent.stderr_tail(), None);
    }

    #[test]
    fn timeout_message_names_command_and_limit() {
        let err = DockerError::Timeout {
            command: "docker compose down".to_string(),
            limit: Duration::from_secs(300),
        };
        assert_eq!(
            err.to_string(),
            "`docker compose down` did not finish within 300s; it was stopped"
        );
        assert_eq!(secs(Duration::from_millis(1500)), "1.5s");
        assert_eq!(secs(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn service_failure_lists_last_log_lines() {
        let err = DockerError::ServiceFailed {
            service: "db".to_string(),
            container: "dep-db-1".to_string(),
            problem: "exited with code 1".to_string(),
            logs: "a\nb".to_string(),
        };
        assert_eq!(
            err.to_string(),
            "service `db` (container `dep-db-1`) exited with code 1\nlast log lines of `dep-db-1`:\n  a\n  b"
        );
        assert_eq!(
            err.hint().as_deref(),
            Some("see `docker logs dep-db-1` for the whole log")
        );
    }

    /// A fake `docker` program: a shell script in a temp dir.
    fn fake_docker(script: &str) -> (tempfile::TempDir, Docker) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let docker = Docker::new().with_program(&path);
        (dir, docker)
    }

    #[test]
    fn engine_that_does_not_answer_is_its_own_error() {
        let (_dir, docker) = fake_docker(
            "echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2; exit 1",
        );
        let err = docker.info().unwrap_err();
        assert!(
            matches!(&err, DockerError::EngineDown { reason, .. } if reason.starts_with("Cannot connect to the Docker daemon")),
            "{err:?}"
        );
    }

    #[test]
    fn a_hanging_call_times_out_with_command_and_limit() {
        let (dir, docker) = fake_docker("sleep 30");
        let docker = docker.with_timeouts(Timeouts {
            query: Duration::from_millis(200),
            ..Timeouts::default()
        });
        let err = docker.info().unwrap_err();
        let program = dir.path().join("docker");
        assert_eq!(
            err.to_string(),
            format!(
                "`{} info --format '{{{{json .}}}}'` did not finish within 200ms; it was stopped",
                program.display()
            )
        );
    }

    #[test]
    fn exec_passes_the_password_by_environment_not_argv() {
        let (_dir, docker) = fake_docker(r#"echo "argv: $*"; echo "env: $MYSQL_PWD""#);
        let out = docker.mysql("db", "root", "pa ss", "SELECT 1").unwrap();
        assert_eq!(
            out,
            "argv: exec -e MYSQL_PWD db mysql --user=root -N -B -e SELECT 1\nenv: pa ss\n"
        );
    }

    #[test]
    fn exec_failure_never_shows_the_password() {
        let (_dir, docker) = fake_docker(
            r#"echo "ERROR 1045 (28000): Access denied (tried $MYSQL_PWD)" >&2; exit 1"#,
        );
        let err = docker
            .mysql("db", "root", "hunter2", "SELECT 1")
            .unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.ends_with(
                "failed (exit code 1): ERROR 1045 (28000): Access denied (tried ********)"
            ),
            "{text}"
        );
    }

    #[test]
    fn missing_image_is_false_other_failures_are_errors() {
        let (_dir, docker) = fake_docker(
            r#"case "$5" in
  present) echo sha256:abc ;;
  absent) echo "Error: No such image: absent" >&2; exit 1 ;;
  *) echo "Error response from daemon: boom" >&2; exit 1 ;;
esac"#,
        );
        assert!(docker.image_exists("present").unwrap());
        assert!(!docker.image_exists("absent").unwrap());
        assert_eq!(
            docker.missing_images(&["present", "absent"]).unwrap(),
            vec!["absent".to_string()]
        );
        let err = docker.image_exists("weird").unwrap_err();
        assert!(
            matches!(&err, DockerError::Failed { reason, .. } if reason == "boom"),
            "{err:?}"
        );
    }

    #[test]
    fn secrets_given_to_the_driver_are_redacted_from_failures() {
        let (_dir, docker) =
            fake_docker("echo \"Error response from daemon: bad value 123456 for $2\" >&2; exit 1");
        let docker = docker.with_secrets(["123456".to_string()]);
        let err = docker.inspect(&["x"]).unwrap_err();
        assert!(
            matches!(&err, DockerError::Failed { reason, .. } if reason == "bad value ******** for --type"),
            "{err:?}"
        );
    }

    #[test]
    fn a_missing_volume_is_none_other_failures_are_errors() {
        let (_dir, docker) = fake_docker(
            r#"case "$5" in
  present) echo '{"Name":"present","Driver":"local","Mountpoint":"/v/present/_data","Labels":null,"Options":null}' ;;
  absent) echo "Error response from daemon: get absent: no such volume" >&2; exit 1 ;;
  *) echo "Error response from daemon: boom" >&2; exit 1 ;;
esac"#,
        );
        let v = docker.volume_inspect("present").unwrap().unwrap();
        assert_eq!(v.mountpoint, PathBuf::from("/v/present/_data"));
        assert_eq!(docker.volume_inspect("absent").unwrap(), None);
        assert!(docker.volume_inspect("weird").is_err());
    }

    #[test]
    fn run_once_removes_the_container_and_keeps_it_off_the_network() {
        let (_dir, docker) = fake_docker(r#"echo "argv: $*"; echo oops >&2; exit 7"#);
        let out = docker
            .run_once("mysql:8.0", "sh", &["-c", "exit 7"])
            .unwrap();
        assert_eq!(
            out.stdout,
            "argv: run --rm --network none --entrypoint sh mysql:8.0 -c exit 7\n"
        );
        assert_eq!((out.code, out.stderr.as_str()), (Some(7), "oops\n"));
    }

    #[test]
    fn engine_down_hint_names_the_fix() {
        let err = DockerError::EngineDown {
            command: "docker info".to_string(),
            reason: "Cannot connect to the Docker daemon".to_string(),
        };
        assert!(err.hint().unwrap().contains("scripts/ensure-docker.sh"));
    }
}
