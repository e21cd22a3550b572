//! Compose: which flavour is installed, which project a deployment's stack belongs to, and
//! the project operations (down, up, config, pull, ps, wait until healthy).
//!
//! Every call names the project, the project directory and the file explicitly
//! (`--project-name=P --project-directory DIR -f FILE`), so `down` with the old file and
//! `up` with the new one address the same containers, and relative bind mounts
//! (`./mysql/data`) resolve against the deployment dir even when the file lives elsewhere.
//! `--project-name=P` is written as one argument because Compose v1 keeps a leading `-` in
//! names it derives (`-dash`), which would otherwise read as an option.
//!
//! The project name is the one the running stack already has (its containers' labels), so
//! a stack the operator started by hand with `docker-compose -f … up -d` is found; see
//! [`Project::discover`] for the order of the other sources.
//!
//! Service state is read from the engine (containers labelled with the project, then
//! `docker inspect`), not from `compose ps`: one code path for both flavours, and no
//! parsing of output that differs between them (v1 prints an aligned text table that
//! truncates long commands; v2's `ps --format json` was one JSON array before 2.21 and one
//! object per line since), while inspect gives health, restart count and exit code exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::engine::{ContainerInfo, LabelledContainer, ServiceState};
use super::exec::{self, Invocation};
use super::{Docker, DockerError};

/// The environment variable that picks a flavour: `v1` or `v2`.
pub const COMPOSE_ENV: &str = "XZUP_COMPOSE";

/// How many log lines a failed service's error shows.
const FAILED_LOG_LINES: u32 = 20;
/// Restarts during a wait that count as a crash loop.
const RESTARTS_TO_FAIL: u64 = 3;
/// Consecutive polls a container may stay exited (no restart policy brings it back).
const EXITED_POLLS_TO_FAIL: u32 = 3;
/// How long a container without a healthcheck must have been running to count as up: a
/// program that crashes at start is "running" for a moment between restarts.
const SETTLE: Duration = Duration::from_secs(3);
/// How often a wait asks the engine (from the start of one poll to the next): a poll takes
/// ~50-150 ms, so a health change is seen well within half a second.
const POLL: Duration = Duration::from_millis(200);

/// The two Compose implementations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    /// `docker-compose` 1.x (Python; Debian 12 ships 1.29.2).
    V1,
    /// `docker compose` 2.x (Go; the CLI plugin, or the standalone `docker-compose` 2.x).
    V2,
}

impl fmt::Display for Flavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Flavour {
    pub fn as_str(self) -> &'static str {
        match self {
            Flavour::V1 => "v1",
            Flavour::V2 => "v2",
        }
    }

    /// `v1` / `v2` (as `XZUP_COMPOSE` takes them).
    pub fn parse(text: &str) -> Option<Flavour> {
        match text.trim().to_ascii_lowercase().as_str() {
            "v1" | "1" => Some(Flavour::V1),
            "v2" | "2" => Some(Flavour::V2),
            _ => None,
        }
    }

    pub(crate) fn probe_hint(self) -> &'static str {
        match self {
            Flavour::V1 => "docker-compose version",
            Flavour::V2 => "docker compose version",
        }
    }

    /// The project name Compose derives from a directory name when nothing else names it.
    ///
    /// - v1 (`compose/cli/command.py`, `get_project_name`): lowercase, then drop every
    ///   character outside `[-_a-z0-9]`. A leading `-` or `_` stays in the name (v1 strips
    ///   it only from container names): `_Lead.Under` → `_leadunder`.
    /// - v2 (compose-go `NormalizeProjectName`): the same, then leading `-` and `_` are
    ///   trimmed: `_Lead.Under` → `leadunder`.
    ///
    /// Both were checked against 1.29.2 and 2.40.3: `My-Dep.x1` → `my-depx1`,
    /// `Ab C_d-e` → `abc_d-e`, `..x` → `x`. A name that normalises to nothing becomes
    /// `default` (v1's own fallback).
    pub fn default_project_name(self, dir_name: &str) -> String {
        let kept: String = dir_name
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
            .collect();
        let name = match self {
            Flavour::V1 => kept,
            Flavour::V2 => kept.trim_start_matches(['-', '_']).to_string(),
        };
        if name.is_empty() {
            "default".to_string()
        } else {
            name
        }
    }

    /// A name given explicitly (`COMPOSE_PROJECT_NAME`, `.env`) as this flavour uses it:
    /// v1 normalises it like a directory name; v2 takes it as written (and refuses an
    /// invalid one itself, with its own message).
    pub fn explicit_project_name(self, name: &str) -> String {
        match self {
            Flavour::V1 => {
                let kept: String = name
                    .to_lowercase()
                    .chars()
                    .filter(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'
                    })
                    .collect();
                kept
            }
            Flavour::V2 => name.to_string(),
        }
    }
}

/// A Compose program found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeCli {
    pub flavour: Flavour,
    /// As `version --short` prints it, e.g. `2.40.3`, `1.29.2`.
    pub version: String,
    program: OsString,
    /// Arguments before Compose's own: `compose` for the docker CLI plugin.
    prefix: Vec<OsString>,
}

impl ComposeCli {
    /// The Compose program to use: `XZUP_COMPOSE` (`v1`/`v2`) when set, else `docker
    /// compose` (v2) when it answers, else `docker-compose` (v1, or a standalone v2).
    pub fn detect(docker: &Docker) -> Result<ComposeCli, DockerError> {
        let choice = match std::env::var(COMPOSE_ENV) {
            Ok(value) if !value.trim().is_empty() => {
                Some(Flavour::parse(&value).ok_or(DockerError::BadComposeChoice { value })?)
            }
            _ => None,
        };
        ComposeCli::detect_with(docker, choice)
    }

    /// Like [`ComposeCli::detect`], with the choice given instead of read from the env.
    pub fn detect_with(
        docker: &Docker,
        choice: Option<Flavour>,
    ) -> Result<ComposeCli, DockerError> {
        let plugin = || probe(docker, docker.program(), &["compose"]);
        let standalone = || probe(docker, "docker-compose".as_ref(), &[]);
        let found = match choice {
            None => match plugin()? {
                Some(cli) => Some(cli),
                None => standalone()?,
            },
            Some(Flavour::V2) => match plugin()? {
                Some(cli) => Some(cli),
                None => standalone()?.filter(|cli| cli.flavour == Flavour::V2),
            },
            Some(Flavour::V1) => standalone()?.filter(|cli| cli.flavour == Flavour::V1),
        };
        found.ok_or(DockerError::ComposeMissing { wanted: choice })
    }

    /// `docker compose` or `docker-compose`, for messages.
    pub fn command(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.prefix)
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A CLI of a known flavour without probing (tests; messages for a dry run).
    pub fn assumed(flavour: Flavour) -> ComposeCli {
        let (program, prefix): (&str, &[&str]) = match flavour {
            Flavour::V1 => ("docker-compose", &[]),
            Flavour::V2 => ("docker", &["compose"]),
        };
        ComposeCli {
            flavour,
            version: String::new(),
            program: program.into(),
            prefix: prefix.iter().map(OsString::from).collect(),
        }
    }
}

/// Runs `PROGRAM PREFIX version --short`; `None` when that program is absent or says no.
fn probe(
    docker: &Docker,
    program: &std::ffi::OsStr,
    prefix: &[&str],
) -> Result<Option<ComposeCli>, DockerError> {
    let mut args: Vec<&str> = prefix.to_vec();
    args.extend(["version", "--short"]);
    let inv = Invocation::new(program, &args, docker.timeouts().query);
    let finished = match exec::run_unchecked(&inv, docker.redactor()) {
        Ok(finished) => finished,
        Err(DockerError::NotInstalled { .. }) => return Ok(None),
        Err(err) => return Err(err),
    };
    let version = finished.stdout.trim().trim_start_matches('v').to_string();
    if !finished.success() || version.is_empty() {
        return Ok(None);
    }
    let flavour = if version.starts_with("1.") {
        Flavour::V1
    } else {
        Flavour::V2
    };
    Ok(Some(ComposeCli {
        flavour,
        version,
        program: program.to_os_string(),
        prefix: prefix.iter().map(OsString::from).collect(),
    }))
}

/// Where a project name came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProjectSource {
    /// The `com.docker.compose.project` label of containers started from the deployment
    /// dir (`com.docker.compose.project.working_dir`, written by v1 and v2 alike).
    RunningStack,
    /// The label of containers bearing the file's fixed `container_name`s, started from
    /// another directory.
    ContainerNames,
    /// `COMPOSE_PROJECT_NAME` in xzup's environment.
    Environment,
    /// `COMPOSE_PROJECT_NAME` in the deployment dir's `.env` file.
    DotEnv,
    /// The compose file's top-level `name:` (v2 only).
    ComposeFile,
    /// Compose's default, derived from the directory name.
    Directory,
}

/// The Compose project a deployment's stack belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    pub name: String,
    pub source: ProjectSource,
}

impl Project {
    /// Finds the project name of the stack in `dir` (compose file `file`):
    /// 1. the project label of containers Compose started from `dir` (the running stack,
    ///    however it was started: by xzup, by hand without `-p`, with `-p`);
    /// 2. the project label of containers named like the file's `container_name`s
    ///    (`container_names`; pass what the file pins, or nothing), started elsewhere;
    /// 3. `COMPOSE_PROJECT_NAME` from the environment, then from `DIR/.env`;
    /// 4. v2: the file's top-level `name:`;
    /// 5. Compose's default from the directory name ([`Flavour::default_project_name`]).
    ///
    /// When containers of several projects match, `COMPOSE_PROJECT_NAME` picks one of
    /// them; without it that is an error rather than a guess.
    pub fn discover(
        docker: &Docker,
        flavour: Flavour,
        dir: &Path,
        file: &Path,
        container_names: &[String],
    ) -> Result<Project, DockerError> {
        let containers = docker.compose_labels()?;
        let env_name = std::env::var("COMPOSE_PROJECT_NAME")
            .ok()
            .filter(|v| !v.trim().is_empty());
        let dotenv = std::fs::read_to_string(dir.join(".env")).ok();
        let file_text = std::fs::read_to_string(file).ok();
        choose_project(&Inputs {
            flavour,
            dir,
            containers: &containers,
            container_names,
            env_name: env_name.as_deref(),
            dotenv: dotenv.as_deref(),
            file_text: file_text.as_deref(),
        })
    }
}

/// Everything [`Project::discover`] looks at, gathered (so the choice is testable).
struct Inputs<'a> {
    flavour: Flavour,
    dir: &'a Path,
    containers: &'a [LabelledContainer],
    container_names: &'a [String],
    env_name: Option<&'a str>,
    dotenv: Option<&'a str>,
    file_text: Option<&'a str>,
}

fn choose_project(inputs: &Inputs<'_>) -> Result<Project, DockerError> {
    let explicit = inputs
        .env_name
        .map(|n| (n.to_string(), ProjectSource::Environment))
        .or_else(|| {
            inputs
                .dotenv
                .and_then(dotenv_project_name)
                .map(|n| (n, ProjectSource::DotEnv))
        })
        .map(|(name, source)| (inputs.flavour.explicit_project_name(&name), source));

    let from_dir: BTreeSet<&str> = inputs
        .containers
        .iter()
        .filter(|c| c.started_from(inputs.dir))
        .filter_map(|c| c.project.as_deref())
        .collect();
    let by_name: BTreeSet<&str> = inputs
        .containers
        .iter()
        .filter(|c| inputs.container_names.contains(&c.name))
        .filter_map(|c| c.project.as_deref())
        .collect();
    for (found, source) in [
        (from_dir, ProjectSource::RunningStack),
        (by_name, ProjectSource::ContainerNames),
    ] {
        match found.len() {
            0 => continue,
            1 => {
                let name = found.into_iter().next().unwrap_or_default().to_string();
                return Ok(Project { name, source });
            }
            _ => {
                if let Some((name, _)) = &explicit
                    && found.contains(name.as_str())
                {
                    return Ok(Project {
                        name: name.clone(),
                        source,
                    });
                }
                return Err(DockerError::AmbiguousProject {
                    dir: inputs.dir.to_path_buf(),
                    projects: found.into_iter().map(str::to_string).collect(),
                });
            }
        }
    }
    if let Some((name, source)) = explicit {
        return Ok(Project { name, source });
    }
    if inputs.flavour == Flavour::V2
        && let Some(name) = inputs.file_text.and_then(top_level_name)
    {
        return Ok(Project {
            name: Flavour::V2.default_project_name(&name),
            source: ProjectSource::ComposeFile,
        });
    }
    let dir_name = inputs
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Project {
        name: inputs.flavour.default_project_name(&dir_name),
        source: ProjectSource::Directory,
    })
}

/// `COMPOSE_PROJECT_NAME=…` in a `.env` file (quotes removed).
fn dotenv_project_name(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        let value = line.strip_prefix("COMPOSE_PROJECT_NAME")?.trim_start();
        let value = value.strip_prefix('=')?.trim();
        let value = unquote(value);
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// The top-level `name: …` of a compose file (a line at column 0).
fn top_level_name(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix("name:")?;
        let value = value.split(" #").next().unwrap_or(value).trim();
        let value = unquote(value);
        (!value.is_empty()).then(|| value.to_string())
    })
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

/// Options of `compose down`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownOptions {
    /// `--remove-orphans`: also containers of the project that the file no longer names.
    pub remove_orphans: bool,
    /// `--volumes`: also named volumes. Never for a real deployment (they may hold data).
    pub volumes: bool,
    /// `-t N`: seconds each container gets to stop before SIGKILL (Compose's default: 10).
    /// MySQL flushes its buffer pool on SIGTERM; a larger value avoids crash recovery.
    pub stop_timeout: Option<u32>,
}

impl Default for DownOptions {
    fn default() -> DownOptions {
        DownOptions {
            remove_orphans: true,
            volumes: false,
            stop_timeout: None,
        }
    }
}

/// One Compose project: the CLI, the project name, the file and the project directory.
#[derive(Debug, Clone)]
pub struct Compose {
    docker: Docker,
    cli: ComposeCli,
    project: String,
    file: PathBuf,
    dir: PathBuf,
}

impl Compose {
    pub fn new(
        docker: &Docker,
        cli: ComposeCli,
        project: impl Into<String>,
        file: impl Into<PathBuf>,
        dir: impl Into<PathBuf>,
    ) -> Compose {
        Compose {
            docker: docker.clone(),
            cli,
            project: project.into(),
            file: file.into(),
            dir: dir.into(),
        }
    }

    /// The deployment in `dir` with compose file `file`: detects the Compose CLI
    /// ([`ComposeCli::detect`]) and the project ([`Project::discover`]).
    pub fn open(
        docker: &Docker,
        dir: &Path,
        file: &Path,
        container_names: &[String],
    ) -> Result<(Compose, Project), DockerError> {
        let cli = ComposeCli::detect(docker)?;
        let project = Project::discover(docker, cli.flavour, dir, file, container_names)?;
        Ok((
            Compose::new(docker, cli, project.name.clone(), file, dir),
            project,
        ))
    }

    /// The same project and directory with another compose file (e.g. `up` with the new
    /// file after `down` with the old one).
    pub fn with_file(&self, file: impl Into<PathBuf>) -> Compose {
        Compose {
            file: file.into(),
            ..self.clone()
        }
    }

    pub fn flavour(&self) -> Flavour {
        self.cli.flavour
    }

    pub fn cli(&self) -> &ComposeCli {
        &self.cli
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The whole argument vector (after the program) for a Compose subcommand.
    pub fn args(&self, subcommand: &[&str]) -> Vec<OsString> {
        let mut args = self.cli.prefix.clone();
        args.extend([
            OsString::from("--ansi"),
            OsString::from("never"),
            OsString::from(format!("--project-name={}", self.project)),
            OsString::from("--project-directory"),
            self.dir.clone().into_os_string(),
            OsString::from("-f"),
            self.file.clone().into_os_string(),
        ]);
        args.extend(subcommand.iter().map(OsString::from));
        args
    }

    /// The command line of a subcommand as it would run, secrets redacted (for dry runs
    /// and journals).
    pub fn command_line(&self, subcommand: &[&str]) -> String {
        exec::command_line(
            self.docker.redactor(),
            &self.invocation(subcommand, Duration::ZERO),
        )
    }

    fn invocation(&self, subcommand: &[&str], timeout: Duration) -> Invocation {
        Invocation::new(&self.cli.program, self.args(subcommand), timeout)
            .env("DOCKER_CLI_HINTS", "false")
    }

    fn run(&self, subcommand: &[&str], timeout: Duration) -> Result<String, DockerError> {
        let inv = self.invocation(subcommand, timeout);
        Ok(exec::run(&inv, self.docker.redactor())?.stdout)
    }

    /// `down`: stops and removes the project's containers and its default network.
    pub fn down(&self, options: &DownOptions) -> Result<(), DockerError> {
        let stop = options.stop_timeout.map(|t| t.to_string());
        let mut args = vec!["down"];
        if options.remove_orphans {
            args.push("--remove-orphans");
        }
        if options.volumes {
            args.push("--volumes");
        }
        if let Some(stop) = &stop {
            args.extend(["-t", stop.as_str()]);
        }
        self.run(&args, self.docker.timeouts().down).map(drop)
    }

    /// `up -d`. Compose itself waits here for `depends_on: condition: service_healthy`.
    pub fn up(&self) -> Result<(), DockerError> {
        self.run(&["up", "-d"], self.docker.timeouts().up).map(drop)
    }

    /// `config -q`: whether Compose accepts the file.
    pub fn config_check(&self) -> Result<(), DockerError> {
        self.run(&["config", "-q"], self.docker.timeouts().query)
            .map(drop)
    }

    /// `pull` of `services` (all when empty). Callers never pull in a dry run.
    pub fn pull<S: AsRef<str>>(&self, services: &[S]) -> Result<(), DockerError> {
        let mut args = vec!["pull", "-q"];
        args.extend(services.iter().map(AsRef::as_ref));
        self.run(&args, self.docker.timeouts().pull).map(drop)
    }

    /// The project's containers (not one-off `run` containers), from the engine.
    pub fn containers(&self) -> Result<Vec<ContainerInfo>, DockerError> {
        self.docker.project_containers(&self.project)
    }

    /// Each container's service, state and health. Services without a container are
    /// absent.
    pub fn ps(&self) -> Result<Vec<ServiceState>, DockerError> {
        Ok(self.containers()?.iter().map(ServiceState::from).collect())
    }

    /// Polls until every service in `services` (all the project's containers when empty)
    /// runs, and is healthy where it has a healthcheck. See [`Compose::wait_ready`].
    pub fn wait_healthy<S: AsRef<str>>(
        &self,
        services: &[S],
        timeout: Duration,
    ) -> Result<Vec<ServiceState>, DockerError> {
        Ok(self.wait_ready(services, timeout, &mut |_| {})?.states)
    }

    /// [`Compose::wait_healthy`], calling `progress` with the states after each poll, and
    /// telling when the stack was first ready apart from when it had settled.
    ///
    /// The engine is asked every [`POLL`] (one `docker ps` + one `docker inspect` of all
    /// the project's containers), so a health change is seen within about half a second
    /// of Docker's own. A container without a healthcheck counts as ready as soon as it
    /// runs ([`Wait::ready_after`]), and the wait then goes on until it has run for
    /// [`SETTLE`] (a program that crashes at start is "running" for a moment between
    /// restarts).
    ///
    /// Fails fast, with the container's last log lines, when a container turns
    /// `unhealthy` (Docker has given its healthcheck all its retries), restarts
    /// [`RESTARTS_TO_FAIL`] times during the wait, or stays exited for
    /// [`EXITED_POLLS_TO_FAIL`] polls (no restart policy brings it back).
    pub fn wait_ready<S: AsRef<str>>(
        &self,
        services: &[S],
        timeout: Duration,
        progress: &mut dyn FnMut(&[ServiceState]),
    ) -> Result<Wait, DockerError> {
        let wanted: Vec<String> = services.iter().map(|s| s.as_ref().to_string()).collect();
        let started = Instant::now();
        let mut watch = Watch::default();
        let mut ready_after = None;
        loop {
            let polled = Instant::now();
            let states = self.ps()?;
            progress(&states);
            let verdict = watch.judge(&wanted, &states, chrono::Utc::now());
            if ready_after.is_none() && watch.all_running {
                ready_after = Some(polled.saturating_duration_since(started));
            }
            if !watch.all_running {
                ready_after = None;
            }
            match verdict {
                Verdict::Ready(ready) => {
                    let settled_after = polled.saturating_duration_since(started);
                    return Ok(Wait {
                        states: ready,
                        ready_after: ready_after.unwrap_or(settled_after),
                        settled_after,
                    });
                }
                Verdict::Failed { state, problem } => {
                    let logs = self
                        .docker
                        .logs_tail(&state.container, FAILED_LOG_LINES)
                        .unwrap_or_default();
                    return Err(DockerError::ServiceFailed {
                        service: state.service,
                        container: state.container,
                        problem,
                        logs: exec::tail(&logs, FAILED_LOG_LINES as usize),
                    });
                }
                Verdict::Pending(pending) => {
                    let waited = started.elapsed();
                    if waited >= timeout {
                        return Err(DockerError::NotReady { waited, pending });
                    }
                    let pause = POLL.saturating_sub(polled.elapsed());
                    std::thread::sleep(pause.min(timeout.saturating_sub(waited)));
                }
            }
        }
    }
}

/// What [`Compose::wait_ready`] saw: the states, and when (from the start of the wait)
/// every service was first running and healthy (where it has a healthcheck), and when
/// each had also settled.
#[derive(Debug, Clone)]
pub struct Wait {
    pub states: Vec<ServiceState>,
    /// The moment the stack served again, as far as the engine tells.
    pub ready_after: Duration,
    pub settled_after: Duration,
}

/// What one poll of [`Compose::wait_ready`] concluded.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Ready(Vec<ServiceState>),
    Pending(Vec<String>),
    Failed {
        state: ServiceState,
        problem: String,
    },
}

/// Whether `state` has a healthcheck (then "healthy" is proof enough) or has been running
/// for [`SETTLE`] (by the engine's `StartedAt`; the engine is local, so its clock is ours).
fn settled(state: &ServiceState, now: chrono::DateTime<chrono::Utc>) -> bool {
    if state.health.is_some() {
        return true;
    }
    match chrono::DateTime::parse_from_rfc3339(&state.started_at) {
        Ok(started) => {
            now.signed_duration_since(started)
                .to_std()
                .unwrap_or_default()
                >= SETTLE
        }
        // Unreadable: do not hold the wait up on it.
        Err(_) => true,
    }
}

/// Memory across polls: restart counts when the wait began, polls spent exited.
#[derive(Debug, Default)]
struct Watch {
    first_restart_count: BTreeMap<String, u64>,
    exited_polls: BTreeMap<String, u32>,
    /// At the last poll: every wanted service had a container, all running and healthy
    /// where they have a healthcheck (settled or not).
    all_running: bool,
}

impl Watch {
    fn judge(
        &mut self,
        wanted: &[String],
        states: &[ServiceState],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Verdict {
        let mut ready = Vec::new();
        let mut pending = Vec::new();
        let mut all_running = true;
        let services: Vec<&str> = if wanted.is_empty() {
            let all: BTreeSet<&str> = states.iter().map(|s| s.service.as_str()).collect();
            all.into_iter().collect()
        } else {
            wanted.iter().map(String::as_str).collect()
        };
        for service in services {
            let containers: Vec<&ServiceState> =
                states.iter().filter(|s| s.service == service).collect();
            if containers.is_empty() {
                pending.push(format!("`{service}`: no container"));
                all_running = false;
                continue;
            }
            for state in containers {
                if let Some(problem) = self.problem(state) {
                    self.all_running = false;
                    return Verdict::Failed {
                        state: state.clone(),
                        problem,
                    };
                }
                if state.is_ready() && settled(state, now) {
                    ready.push(state.clone());
                } else if state.is_ready() {
                    pending.push(format!(
                        "`{service}`: running, not yet {}s",
                        SETTLE.as_secs()
                    ));
                } else {
                    pending.push(format!("`{service}`: {}", state.describe()));
                    all_running = false;
                }
            }
        }
        self.all_running = all_running;
        if pending.is_empty() {
            Verdict::Ready(ready)
        } else {
            Verdict::Pending(pending)
        }
    }

    fn problem(&mut self, state: &ServiceState) -> Option<String> {
        if state.health.as_deref() == Some("unhealthy") {
            return Some("is unhealthy: its healthcheck failed every retry".to_string());
        }
        let first = *self
            .first_restart_count
            .entry(state.container.clone())
            .or_insert(state.restart_count);
        let restarts = state.restart_count.saturating_sub(first);
        if restarts >= RESTARTS_TO_FAIL {
            return Some(format!(
                "keeps restarting: {restarts} restarts while waiting (last exit code {})",
                state.exit_code
            ));
        }
        let exited = self
            .exited_polls
            .entry(state.container.clone())
            .or_insert(0);
        if matches!(state.status.as_str(), "exited" | "dead") {
            *exited += 1;
            if *exited >= EXITED_POLLS_TO_FAIL {
                return Some(format!("{} with code {}", state.status, state.exit_code));
            }
        } else {
            *exited = 0;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_project_names_match_both_flavours() {
        // Observed with docker-compose 1.29.2 and docker compose 2.40.3 on this engine.
        let cases = [
            ("My-Dep.x1", "my-depx1", "my-depx1"),
            ("_Lead.Under", "_leadunder", "leadunder"),
            ("-dash", "-dash", "dash"),
            ("Ab C_d-e", "abc_d-e", "abc_d-e"),
            ("..x", "x", "x"),
            ("9Nine", "9nine", "9nine"),
            ("xiaozhi-server", "xiaozhi-server", "xiaozhi-server"),
            ("...", "default", "default"),
        ];
        for (dir, v1, v2) in cases {
            assert_eq!(Flavour::V1.default_project_name(dir), v1, "v1 {dir}");
            assert_eq!(Flavour::V2.default_project_name(dir), v2, "v2 {dir}");
        }
    }

    #[test]
    fn explicit_names_normalised_by_v1_only() {
        assert_eq!(Flavour::V1.explicit_project_name("My.Proj"), "myproj");
        assert_eq!(Flavour::V2.explicit_project_name("My.Proj"), "My.Proj");
    }

    #[test]
    fn flavour_choice() {
        assert_eq!(Flavour::parse("v1"), Some(Flavour::V1));
        assert_eq!(Flavour::parse(" V2 "), Some(Flavour::V2));
        assert_eq!(Flavour::parse("v3"), None);
    }

    fn compose(flavour: Flavour) -> Compose {
        Compose::new(
            &Docker::new(),
            ComposeCli::assumed(flavour),
            "-dash",
            "/srv/x/.xzup/new.yml",
            "/srv/x",
        )
    }

    #[test]
    fn every_call_names_project_dir_and_file() {
        assert_eq!(
            compose(Flavour::V2).command_line(&["up", "-d"]),
            "docker compose --ansi never --project-name=-dash --project-directory /srv/x -f /srv/x/.xzup/new.yml up -d"
        );
        assert_eq!(
            compose(Flavour::V1).command_line(&["down", "--remove-orphans"]),
            "docker-compose --ansi never --project-name=-dash --project-directory /srv/x -f /srv/x/.xzup/new.yml down --remove-orphans"
        );
        let old = compose(Flavour::V2).with_file("/srv/x/docker-compose_all.yml");
        assert_eq!(old.project(), "-dash");
        assert_eq!(old.dir(), Path::new("/srv/x"));
        assert_eq!(old.file(), Path::new("/srv/x/docker-compose_all.yml"));
    }

    fn labelled(name: &str, project: &str, dir: &str) -> LabelledContainer {
        LabelledContainer {
            id: format!("id-{name}"),
            name: name.to_string(),
            project: Some(project.to_string()),
            working_dir: Some(PathBuf::from(dir)),
        }
    }

    fn inputs<'a>(
        containers: &'a [LabelledContainer],
        names: &'a [String],
        flavour: Flavour,
    ) -> Inputs<'a> {
        Inputs {
            flavour,
            dir: Path::new("/srv/My-Dep.x1"),
            containers,
            container_names: names,
            env_name: None,
            dotenv: None,
            file_text: None,
        }
    }

    #[test]
    fn running_stack_label_wins() {
        let containers = [
            labelled("a", "handmade", "/srv/My-Dep.x1"),
            labelled("b", "other", "/srv/elsewhere"),
        ];
        let mut i = inputs(&containers, &[], Flavour::V2);
        i.env_name = Some("fromenv");
        assert_eq!(
            choose_project(&i).unwrap(),
            Project {
                name: "handmade".to_string(),
                source: ProjectSource::RunningStack
            }
        );
    }

    #[test]
    fn pinned_container_names_find_a_stack_started_elsewhere() {
        let containers = [labelled("xiaozhi-esp32-server-db", "old", "/home/old-copy")];
        let names = vec!["xiaozhi-esp32-server-db".to_string()];
        assert_eq!(
            choose_project(&inputs(&containers, &names, Flavour::V1)).unwrap(),
            Project {
                name: "old".to_string(),
                source: ProjectSource::ContainerNames
            }
        );
    }

    #[test]
    fn two_projects_from_one_dir_need_a_choice() {
        let containers = [
            labelled("a", "one", "/srv/My-Dep.x1"),
            labelled("b", "two", "/srv/My-Dep.x1"),
        ];
        let err = choose_project(&inputs(&containers, &[], Flavour::V2)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "containers of several Compose projects were started from `/srv/My-Dep.x1`: `one`, `two`"
        );
        let mut i = inputs(&containers, &[], Flavour::V2);
        i.env_name = Some("two");
        assert_eq!(choose_project(&i).unwrap().name, "two");
    }

    #[test]
    fn without_containers_env_then_dotenv_then_name_then_directory() {
        let none: [LabelledContainer; 0] = [];
        let mut i = inputs(&none, &[], Flavour::V1);
        i.env_name = Some("From.Env");
        i.dotenv = Some("COMPOSE_PROJECT_NAME=dotenv\n");
        assert_eq!(
            choose_project(&i).unwrap(),
            Project {
                name: "fromenv".to_string(),
                source: ProjectSource::Environment
            }
        );
        i.env_name = None;
        assert_eq!(
            choose_project(&i).unwrap(),
            Project {
                name: "dotenv".to_string(),
                source: ProjectSource::DotEnv
            }
        );
        i.dotenv = Some("OTHER=1\n");
        i.file_text = Some("name: Top.Name\nservices: {}\n");
        // v1 does not know top-level `name:`.
        assert_eq!(
            choose_project(&i).unwrap(),
            Project {
                name: "my-depx1".to_string(),
                source: ProjectSource::Directory
            }
        );
        i.flavour = Flavour::V2;
        assert_eq!(
            choose_project(&i).unwrap(),
            Project {
                name: "topname".to_string(),
                source: ProjectSource::ComposeFile
            }
        );
    }

    #[test]
    fn dotenv_and_name_parsing() {
        assert_eq!(
            dotenv_project_name("# c\nexport COMPOSE_PROJECT_NAME = \"quoted\"\n"),
            Some("quoted".to_string())
        );
        assert_eq!(dotenv_project_name("COMPOSE_PROJECT_NAMES=x\n"), None);
        assert_eq!(
            top_level_name("version: '3'\nname: 'xz' # comment\n"),
            Some("xz".to_string())
        );
        assert_eq!(top_level_name("services:\n  a:\n    name: nested\n"), None);
    }

    const STARTED: &str = "2026-11-25T19:35:48.5Z";

    fn state(service: &str, status: &str, health: Option<&str>, restarts: u64) -> ServiceState {
        ServiceState {
            service: service.to_string(),
            container: format!("c-{service}"),
            status: status.to_string(),
            health: health.map(str::to_string),
            exit_code: if status == "exited" { 1 } else { 0 },
            restart_count: restarts,
            started_at: STARTED.to_string(),
        }
    }

    /// `secs` after [`STARTED`].
    fn at(secs: f64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339(STARTED)
            .unwrap()
            .to_utc()
            + chrono::Duration::milliseconds((secs * 1000.0) as i64)
    }

    #[test]
    fn a_service_without_healthcheck_must_run_a_few_seconds() {
        let mut watch = Watch::default();
        let states = [state("web", "running", None, 0)];
        assert_eq!(
            watch.judge(&[], &states, at(1.0)),
            Verdict::Pending(vec!["`web`: running, not yet 3s".to_string()])
        );
        // Ready (the outage is over) though not yet settled.
        assert!(watch.all_running);
        assert_eq!(
            watch.judge(&[], &states, at(3.0)),
            Verdict::Ready(states.to_vec())
        );
        assert!(watch.all_running);
        // With a healthcheck, healthy is enough at once.
        let db = [state("db", "running", Some("healthy"), 0)];
        assert_eq!(watch.judge(&[], &db, at(0.1)), Verdict::Ready(db.to_vec()));
    }

    #[test]
    fn waits_for_missing_and_starting_services() {
        let mut watch = Watch::default();
        let wanted = vec!["db".to_string(), "web".to_string()];
        let verdict = watch.judge(
            &wanted,
            &[state("db", "running", Some("starting"), 0)],
            at(9.0),
        );
        assert_eq!(
            verdict,
            Verdict::Pending(vec![
                "`db`: running (starting)".to_string(),
                "`web`: no container".to_string()
            ])
        );
        assert!(!watch.all_running);
        // A container without a healthcheck running, a starting one beside it: not ready.
        let starting = [
            state("db", "running", Some("starting"), 0),
            state("web", "running", None, 0),
        ];
        assert!(matches!(
            watch.judge(&wanted, &starting, at(9.0)),
            Verdict::Pending(_)
        ));
        assert!(!watch.all_running);
        let states = [
            state("db", "running", Some("healthy"), 0),
            state("web", "running", None, 0),
        ];
        assert_eq!(
            watch.judge(&wanted, &states, at(9.0)),
            Verdict::Ready(states.to_vec())
        );
    }

    #[test]
    fn unhealthy_fails_at_once() {
        let mut watch = Watch::default();
        let verdict = watch.judge(
            &[],
            &[state("db", "running", Some("unhealthy"), 0)],
            at(9.0),
        );
        assert!(
            matches!(&verdict, Verdict::Failed { problem, .. } if problem == "is unhealthy: its healthcheck failed every retry"),
            "{verdict:?}"
        );
    }

    #[test]
    fn crash_loop_fails_after_three_restarts_during_the_wait() {
        let mut watch = Watch::default();
        for restarts in [5, 6, 7] {
            let verdict = watch.judge(&[], &[state("db", "restarting", None, restarts)], at(9.0));
            assert!(matches!(verdict, Verdict::Pending(_)), "{verdict:?}");
        }
        let verdict = watch.judge(&[], &[state("db", "running", None, 8)], at(9.0));
        assert!(
            matches!(&verdict, Verdict::Failed { problem, .. } if problem == "keeps restarting: 3 restarts while waiting (last exit code 0)"),
            "{verdict:?}"
        );
    }

    #[test]
    fn staying_exited_fails_after_three_polls() {
        let mut watch = Watch::default();
        let exited = [state("web", "exited", None, 0)];
        assert!(matches!(
            watch.judge(&[], &exited, at(9.0)),
            Verdict::Pending(_)
        ));
        assert!(matches!(
            watch.judge(&[], &exited, at(9.0)),
            Verdict::Pending(_)
        ));
        let verdict = watch.judge(&[], &exited, at(9.0));
        assert!(
            matches!(&verdict, Verdict::Failed { problem, .. } if problem == "exited with code 1"),
            "{verdict:?}"
        );
    }
}
