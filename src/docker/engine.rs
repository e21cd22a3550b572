//! Questions to the engine itself, independent of Compose: the host (`docker info`),
//! containers (`docker inspect`, `docker ps`), live usage (`docker stats`), commands inside
//! a container (`docker exec`), logs, and which images exist locally.
//!
//! Limits are read from `docker inspect` (HostConfig), never from `docker stats`: when a
//! container has no memory limit, stats shows the host's memory as the "limit".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Docker, DockerError, exec};

/// Compose's labels on the containers it creates (the same keys in v1 and v2).
pub(crate) const LABEL_PROJECT: &str = "com.docker.compose.project";
pub(crate) const LABEL_SERVICE: &str = "com.docker.compose.service";
pub(crate) const LABEL_WORKING_DIR: &str = "com.docker.compose.project.working_dir";
/// `True` on containers of `compose run` (one-off); both flavours write `False` otherwise.
pub(crate) const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";

/// What `docker info` says about the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostInfo {
    /// CPUs the engine can give containers (`NCPU`); a `cpus:` limit above it fails.
    pub ncpu: u32,
    /// Bytes of memory (`MemTotal`).
    pub mem_total: u64,
    pub server_version: String,
}

/// One container as `docker inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerInfo {
    pub id: String,
    /// Without the leading `/` that inspect prints.
    pub name: String,
    /// `com.docker.compose.service`
    pub service: Option<String>,
    /// `com.docker.compose.project`
    pub project: Option<String>,
    /// `com.docker.compose.project.working_dir`
    pub working_dir: Option<PathBuf>,
    /// `com.docker.compose.oneoff=True` (a `compose run` container).
    pub oneoff: bool,
    /// The image ID (`sha256:…`) the container runs.
    pub image_id: String,
    /// The image as named in the compose file (`Config.Image`, e.g. `mysql:latest`).
    pub image: String,
    /// `Config.Cmd`: the command's arguments (the MySQL/Redis flags live here).
    pub command: Vec<String>,
    /// `State.Status`: created, running, restarting, paused, exited, removing, dead.
    pub status: String,
    /// `State.Health.Status` (starting, healthy, unhealthy) when it has a healthcheck.
    pub health: Option<String>,
    /// `State.ExitCode` of the last run.
    pub exit_code: i64,
    /// How often the engine restarted it (`restart: always`).
    pub restart_count: u64,
    /// `State.StartedAt` (RFC 3339) of the current or last run.
    pub started_at: String,
    /// `HostConfig.Memory`, bytes; 0 = no limit.
    pub memory: u64,
    /// `HostConfig.NanoCpus`, 1e9 per CPU; 0 = no limit.
    pub nano_cpus: i64,
    /// `HostConfig.MemoryReservation`, bytes; 0 = none.
    pub memory_reservation: u64,
    /// `HostConfig.MemorySwap`, bytes of memory plus swap; -1 = unlimited, 0 = unset.
    pub memory_swap: i64,
}

/// A service of a Compose project and the state of its container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceState {
    pub service: String,
    pub container: String,
    pub status: String,
    pub health: Option<String>,
    pub exit_code: i64,
    pub restart_count: u64,
    /// `State.StartedAt` (RFC 3339) of the current or last run.
    pub started_at: String,
}

impl ServiceState {
    /// Running, and healthy when it has a healthcheck.
    pub fn is_ready(&self) -> bool {
        self.status == "running" && self.health.as_deref().is_none_or(|h| h == "healthy")
    }

    /// `running (healthy)`, `exited (code 1)`, `restarting`.
    pub fn describe(&self) -> String {
        match (&self.health, self.status.as_str()) {
            (_, "exited" | "dead") => format!("{} (code {})", self.status, self.exit_code),
            (Some(health), "running") => format!("running ({health})"),
            _ => self.status.clone(),
        }
    }
}

impl From<&ContainerInfo> for ServiceState {
    fn from(c: &ContainerInfo) -> ServiceState {
        ServiceState {
            service: c.service.clone().unwrap_or_else(|| c.name.clone()),
            container: c.name.clone(),
            status: c.status.clone(),
            health: c.health.clone(),
            exit_code: c.exit_code,
            restart_count: c.restart_count,
            started_at: c.started_at.clone(),
        }
    }
}

/// One line of `docker stats --no-stream`. `None` where the engine printed `--` (it could
/// not read the value, e.g. for a container that is not running).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerStats {
    pub id: String,
    pub name: String,
    /// Percent of ONE core (200.0 = two cores busy).
    pub cpu_percent: Option<f64>,
    pub mem_usage: Option<u64>,
    /// The cgroup limit, or the host's memory when there is none (see the module doc).
    pub mem_limit: Option<u64>,
    pub mem_percent: Option<f64>,
    pub pids: Option<u64>,
}

impl Docker {
    /// `docker info`: CPUs, memory and version of the engine's host.
    pub fn info(&self) -> Result<HostInfo, DockerError> {
        const ARGS: [&str; 3] = ["info", "--format", "{{json .}}"];
        let out = self.run(ARGS, self.timeouts.query)?;
        parse_info(&out.stdout).map_err(|detail| match detail {
            InfoProblem::ServerErrors(reason) => DockerError::EngineDown {
                command: "docker info".to_string(),
                reason,
            },
            InfoProblem::Parse(detail) => self.parse_error(&ARGS, detail),
        })
    }

    /// `docker inspect` of containers (IDs or names), in the order given.
    pub fn inspect<S: AsRef<str>>(
        &self,
        containers: &[S],
    ) -> Result<Vec<ContainerInfo>, DockerError> {
        if containers.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec!["inspect", "--type", "container"];
        args.extend(containers.iter().map(AsRef::as_ref));
        let out = self.run(&args, self.timeouts.query)?;
        parse_inspect(&out.stdout).map_err(|detail| self.parse_error(&args, detail))
    }

    /// Every container of Compose project `project` (running or not), except one-off
    /// `compose run` containers, sorted by service name.
    pub fn project_containers(&self, project: &str) -> Result<Vec<ContainerInfo>, DockerError> {
        let filter = format!("label={LABEL_PROJECT}={project}");
        let args = ["ps", "-a", "-q", "--no-trunc", "--filter", filter.as_str()];
        let out = self.run(args, self.timeouts.query)?;
        let ids: Vec<&str> = out.stdout.split_whitespace().collect();
        let mut containers: Vec<ContainerInfo> = self
            .inspect(&ids)?
            .into_iter()
            .filter(|c| !c.oneoff)
            .collect();
        containers.sort_by(|a, b| (&a.service, &a.name).cmp(&(&b.service, &b.name)));
        Ok(containers)
    }

    /// All containers on the engine with their Compose labels (for finding a project).
    pub(crate) fn compose_labels(&self) -> Result<Vec<LabelledContainer>, DockerError> {
        // Each field through `json` so that no name or path can break the line apart.
        let format = format!(
            "[{{{{json .ID}}}},{{{{json .Names}}}},{{{{json (.Label \"{LABEL_PROJECT}\")}}}},{{{{json (.Label \"{LABEL_WORKING_DIR}\")}}}}]"
        );
        let args = ["ps", "-a", "--no-trunc", "--format", format.as_str()];
        let out = self.run(args, self.timeouts.query)?;
        parse_labelled(&out.stdout).map_err(|detail| self.parse_error(&args, detail))
    }

    /// `docker stats --no-stream` of `containers` (all running ones when empty).
    pub fn stats<S: AsRef<str>>(
        &self,
        containers: &[S],
    ) -> Result<Vec<ContainerStats>, DockerError> {
        let mut args = vec![
            "stats",
            "--no-stream",
            "--no-trunc",
            "--format",
            "{{json .}}",
        ];
        args.extend(containers.iter().map(AsRef::as_ref));
        let out = self.run(&args, self.timeouts.stats)?;
        parse_stats(&out.stdout).map_err(|detail| self.parse_error(&args, detail))
    }

    /// Runs `args` inside `container` and returns its stdout.
    ///
    /// `env` is handed to the command through the docker CLI's own environment
    /// (`docker exec -e NAME`, no value on the command line), so a password given as
    /// `MYSQL_PWD` never shows in `ps` or in an error message.
    pub fn exec<S: AsRef<str>>(
        &self,
        container: &str,
        args: &[S],
        env: &[(&str, &str)],
    ) -> Result<String, DockerError> {
        let mut argv: Vec<&str> = vec!["exec"];
        for (name, _) in env {
            argv.extend(["-e", name]);
        }
        argv.push(container);
        argv.extend(args.iter().map(AsRef::as_ref));
        let mut inv = self.invocation(&argv, self.timeouts.exec);
        for (name, value) in env {
            inv = inv.env(name, value);
        }
        let mut redactor = self.redactor.clone();
        redactor.add(
            env.iter()
                .filter(|(name, _)| crate::secrets::is_secret_name(name))
                .map(|(_, v)| *v),
        );
        Ok(exec::run(&inv, &redactor)?.stdout)
    }

    /// A query through the `mysql` client in `container`, tab-separated without headers
    /// (`-N -B`). The password travels as `MYSQL_PWD` (see [`Docker::exec`]).
    pub fn mysql(
        &self,
        container: &str,
        user: &str,
        password: &str,
        sql: &str,
    ) -> Result<String, DockerError> {
        let user_arg = format!("--user={user}");
        self.exec(
            container,
            &["mysql", user_arg.as_str(), "-N", "-B", "-e", sql],
            &[("MYSQL_PWD", password)],
        )
    }

    /// Like [`Docker::mysql`], with more client flags before `-e` (e.g. `-vvv`, which makes
    /// the client print each statement's round-trip: `1 row in set (0.000 sec)`).
    pub fn mysql_with(
        &self,
        container: &str,
        user: &str,
        password: &str,
        flags: &[&str],
        sql: &str,
    ) -> Result<String, DockerError> {
        let user_arg = format!("--user={user}");
        let mut argv = vec!["mysql", user_arg.as_str(), "-N", "-B"];
        argv.extend_from_slice(flags);
        argv.extend(["-e", sql]);
        self.exec(container, &argv, &[("MYSQL_PWD", password)])
    }

    /// The host ports `container` publishes, as `(container port, host port)` for TCP
    /// (`docker port`: `8003/tcp -> 0.0.0.0:8003`, once per address family).
    pub fn published_ports(&self, container: &str) -> Result<Vec<(u16, u16)>, DockerError> {
        let out = self.run(["port", container], self.timeouts.query)?;
        Ok(parse_ports(&out.stdout))
    }

    /// `redis-cli ARGS` in `container`.
    pub fn redis_cli<S: AsRef<str>>(
        &self,
        container: &str,
        args: &[S],
    ) -> Result<String, DockerError> {
        let mut argv = vec!["redis-cli"];
        argv.extend(args.iter().map(AsRef::as_ref));
        self.exec(container, &argv, &[])
    }

    /// The last `lines` lines the container logged (stdout and stderr), redacted.
    pub fn logs_tail(&self, container: &str, lines: u32) -> Result<String, DockerError> {
        let lines = lines.to_string();
        let out = self.run(
            ["logs", "--tail", lines.as_str(), container],
            self.timeouts.query,
        )?;
        let mut text = out.stdout;
        text.push_str(&out.stderr);
        Ok(self.redactor.redact(&exec::strip_ansi(&text)))
    }

    /// Whether `image` exists locally (`docker image inspect`).
    pub fn image_exists(&self, image: &str) -> Result<bool, DockerError> {
        Ok(self.image_id(image)?.is_some())
    }

    /// The ID (`sha256:…`) the local image `image` resolves to, `None` when it is absent.
    pub fn image_id(&self, image: &str) -> Result<Option<String>, DockerError> {
        let inv = self.invocation(
            ["image", "inspect", "--format", "{{.Id}}", image],
            self.timeouts.query,
        );
        let finished = exec::run_unchecked(&inv, &self.redactor)?;
        if finished.success() {
            return Ok(Some(finished.stdout.trim().to_string()));
        }
        if finished.stderr.contains("No such image") || finished.stderr.contains("No such object") {
            return Ok(None);
        }
        Err(exec::failure(&inv, &self.redactor, &finished))
    }

    /// The images of `images` that do not exist locally, in the order given.
    pub fn missing_images<S: AsRef<str>>(&self, images: &[S]) -> Result<Vec<String>, DockerError> {
        let mut missing = Vec::new();
        for image in images {
            if !self.image_exists(image.as_ref())? {
                missing.push(image.as_ref().to_string());
            }
        }
        Ok(missing)
    }

    /// Runs `image` once in a container of its own that is removed afterwards and has no
    /// network (`docker run --rm --network none --entrypoint ENTRYPOINT IMAGE ARGS`), and
    /// says how it ended, whatever the exit code. Nothing of the deployment is mounted.
    pub fn run_once<S: AsRef<str>>(
        &self,
        image: &str,
        entrypoint: &str,
        args: &[S],
    ) -> Result<RunOutput, DockerError> {
        let mut argv = vec![
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            entrypoint,
            image,
        ];
        argv.extend(args.iter().map(AsRef::as_ref));
        let inv = self.invocation(&argv, self.timeouts.exec);
        let finished = exec::run_unchecked(&inv, &self.redactor)?;
        if exec::engine_unreachable(&finished.stderr) {
            return Err(exec::failure(&inv, &self.redactor, &finished));
        }
        Ok(RunOutput {
            code: finished.code,
            stdout: self.redactor.redact(&finished.stdout),
            stderr: self.redactor.redact(&finished.stderr),
        })
    }

    /// Removes containers by force (`docker rm -f`), e.g. leftovers of a crashed stack.
    pub fn remove_containers<S: AsRef<str>>(&self, containers: &[S]) -> Result<(), DockerError> {
        if containers.is_empty() {
            return Ok(());
        }
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(containers.iter().map(AsRef::as_ref));
        self.run(&args, self.timeouts.down)?;
        Ok(())
    }
}

/// How a [`Docker::run_once`] container ended, its output redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    /// `None`: killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// A container and the Compose labels that tie it to a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LabelledContainer {
    pub id: String,
    pub name: String,
    pub project: Option<String>,
    pub working_dir: Option<PathBuf>,
}

impl LabelledContainer {
    /// Whether Compose started it from `dir` (the label compared as written and with
    /// symlinks resolved on both sides: an operator may have used a symlinked path).
    pub fn started_from(&self, dir: &Path) -> bool {
        let Some(label) = &self.working_dir else {
            return false;
        };
        if label == dir {
            return true;
        }
        match (label.canonicalize(), dir.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

fn parse_labelled(stdout: &str) -> Result<Vec<LabelledContainer>, String> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (id, name, project, working_dir): (String, String, String, String) =
                serde_json::from_str(line).map_err(|e| format!("{e} in `{line}`"))?;
            let non_empty = |s: String| (!s.is_empty()).then_some(s);
            Ok(LabelledContainer {
                id,
                name,
                project: non_empty(project),
                working_dir: non_empty(working_dir).map(PathBuf::from),
            })
        })
        .collect()
}

enum InfoProblem {
    ServerErrors(String),
    Parse(String),
}

fn parse_info(stdout: &str) -> Result<HostInfo, InfoProblem> {
    #[derive(Deserialize)]
    struct Info {
        #[serde(rename = "NCPU", default)]
        ncpu: u32,
        #[serde(rename = "MemTotal", default)]
        mem_total: u64,
        #[serde(rename = "ServerVersion", default)]
        server_version: String,
        #[serde(rename = "ServerErrors", default)]
        server_errors: Option<Vec<String>>,
    }
    let info: Info =
        serde_json::from_str(stdout.trim()).map_err(|e| InfoProblem::Parse(e.to_string()))?;
    // A CLI that reached no engine may still exit 0 and list why in ServerErrors.
    if let Some(errors) = info.server_errors.filter(|e| !e.is_empty()) {
        return Err(InfoProblem::ServerErrors(errors.join("; ")));
    }
    if info.ncpu == 0 || info.server_version.is_empty() {
        return Err(InfoProblem::Parse(
            "no NCPU or ServerVersion in the answer".to_string(),
        ));
    }
    Ok(HostInfo {
        ncpu: info.ncpu,
        mem_total: info.mem_total,
        server_version: info.server_version,
    })
}

fn parse_inspect(stdout: &str) -> Result<Vec<ContainerInfo>, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Raw {
        id: String,
        name: String,
        image: String,
        #[serde(default)]
        restart_count: u64,
        state: RawState,
        config: RawConfig,
        host_config: RawHostConfig,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct RawState {
        status: String,
        #[serde(default)]
        exit_code: i64,
        #[serde(default)]
        started_at: String,
        health: Option<RawHealth>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct RawHealth {
        status: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct RawConfig {
        image: String,
        cmd: Option<Vec<String>>,
        labels: Option<BTreeMap<String, String>>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct RawHostConfig {
        #[serde(default)]
        memory: u64,
        #[serde(default)]
        nano_cpus: i64,
        #[serde(default)]
        memory_reservation: u64,
        #[serde(default)]
        memory_swap: i64,
    }
    let raw: Vec<Raw> = serde_json::from_str(stdout.trim()).map_err(|e| e.to_string())?;
    Ok(raw
        .into_iter()
        .map(|r| {
            let labels = r.config.labels.unwrap_or_default();
            ContainerInfo {
                id: r.id,
                name: r.name.trim_start_matches('/').to_string(),
                service: labels.get(LABEL_SERVICE).cloned(),
                project: labels.get(LABEL_PROJECT).cloned(),
                working_dir: labels.get(LABEL_WORKING_DIR).map(PathBuf::from),
                oneoff: labels.get(LABEL_ONEOFF).is_some_and(|v| v == "True"),
                image_id: r.image,
                image: r.config.image,
                command: r.config.cmd.unwrap_or_default(),
                status: r.state.status,
                // "none" is what the engine reports for `healthcheck: disable`.
                health: r
                    .state
                    .health
                    .map(|h| h.status)
                    .filter(|s| !s.is_empty() && s != "none"),
                exit_code: r.state.exit_code,
                restart_count: r.restart_count,
                started_at: r.state.started_at,
                memory: r.host_config.memory,
                nano_cpus: r.host_config.nano_cpus,
                memory_reservation: r.host_config.memory_reservation,
                memory_swap: r.host_config.memory_swap,
            }
        })
        .collect())
}

pub(crate) fn parse_stats(stdout: &str) -> Result<Vec<ContainerStats>, String> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(rename = "ID", default)]
        id: String,
        #[serde(rename = "Container", default)]
        container: String,
        #[serde(rename = "Name", default)]
        name: String,
        #[serde(rename = "CPUPerc", default)]
        cpu_perc: String,
        #[serde(rename = "MemUsage", default)]
        mem_usage: String,
        #[serde(rename = "MemPerc", default)]
        mem_perc: String,
        #[serde(rename = "PIDs", default)]
        pids: String,
    }
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let raw: Raw = serde_json::from_str(line).map_err(|e| format!("{e} in `{line}`"))?;
            let (usage, limit) = match raw.mem_usage.split_once('/') {
                Some((usage, limit)) => (parse_size(usage), parse_size(limit)),
                None => (None, None),
            };
            Ok(ContainerStats {
                id: if raw.id.is_empty() {
                    raw.container
                } else {
                    raw.id
                },
                name: raw.name,
                cpu_percent: parse_percent(&raw.cpu_perc),
                mem_usage: usage,
                mem_limit: limit,
                mem_percent: parse_percent(&raw.mem_perc),
                pids: raw.pids.trim().parse().ok(),
            })
        })
        .collect()
}

/// `docker port` lines → `(container port, host port)` of TCP, each pair once.
pub(crate) fn parse_ports(stdout: &str) -> Vec<(u16, u16)> {
    let mut ports: Vec<(u16, u16)> = stdout
        .lines()
        .filter_map(|line| {
            let (inside, outside) = line.split_once(" -> ")?;
            let inside = inside.trim().strip_suffix("/tcp")?.parse().ok()?;
            let outside = outside.trim().rsplit(':').next()?.parse().ok()?;
            Some((inside, outside))
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// `0.03%` → 0.03; `--` (unreadable) → None.
fn parse_percent(text: &str) -> Option<f64> {
    text.trim().strip_suffix('%')?.trim().parse().ok()
}

/// A size as `docker stats` prints it: binary units for memory (`760KiB`, `1.5GiB`),
/// decimal ones for I/O (`1.11kB`, `12MB`), plain bytes (`0B`). `--` → None.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    const K: f64 = 1024.0;
    let mult = match unit.trim() {
        "" | "B" => 1.0,
        "KiB" => K,
        "MiB" => K * K,
        "GiB" => K * K * K,
        "TiB" => K * K * K * K,
        "PiB" => K * K * K * K * K,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "PB" => 1e15,
        _ => return None,
    };
    Some((number * mult).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_ports_of_both_address_families_once() {
        let out = "8000/tcp -> 0.0.0.0:8000\n8000/tcp -> [::]:8000\n8003/tcp -> 0.0.0.0:8013\n53/udp -> 0.0.0.0:53\n";
        assert_eq!(parse_ports(out), vec![(8000, 8000), (8003, 8013)]);
        assert!(parse_ports("").is_empty());
    }

    #[test]
    fn stats_line_with_binary_units() {
        let out = r#"{"BlockIO":"0B / 0B","CPUPerc":"2.22%","Container":"904651e72b45","ID":"904651e72b45","MemPerc":"0.43%","MemUsage":"103.2MiB / 23.54GiB","Name":"xiaozhi-esp32-server-db","NetIO":"1.11kB / 0B","PIDs":"12"}
{"BlockIO":"--","CPUPerc":"--","Container":"abc","ID":"abc","MemPerc":"--","MemUsage":"-- / --","Name":"stopped","NetIO":"--","PIDs":"--"}
"#;
        let stats = parse_stats(out).unwrap();
        assert_eq!(
            stats,
            vec![
                ContainerStats {
                    id: "904651e72b45".to_string(),
                    name: "xiaozhi-esp32-server-db".to_string(),
                    cpu_percent: Some(2.22),
                    mem_usage: Some((103.2f64 * 1024.0 * 1024.0).round() as u64),
                    mem_limit: Some((23.54f64 * 1024.0 * 1024.0 * 1024.0).round() as u64),
                    mem_percent: Some(0.43),
                    pids: Some(12),
                },
                ContainerStats {
                    id: "abc".to_string(),
                    name: "stopped".to_string(),
                    cpu_percent: None,
                    mem_usage: None,
                    mem_limit: None,
                    mem_percent: None,
                    pids: None,
                },
            ]
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("760KiB"), Some(760 * 1024));
        assert_eq!(parse_size(" 300MiB"), Some(300 * 1024 * 1024));
        assert_eq!(parse_size("1.5GiB"), Some(1024 * 1024 * 1536));
        assert_eq!(parse_size("0B"), Some(0));
        assert_eq!(parse_size("1.11kB"), Some(1110));
        assert_eq!(parse_size("12MB"), Some(12_000_000));
        assert_eq!(parse_size("--"), None);
        assert_eq!(parse_size("12 parsecs"), None);
    }

    #[test]
    fn percents() {
        assert_eq!(parse_percent("0.03%"), Some(0.03));
        assert_eq!(parse_percent("150.10%"), Some(150.1));
        assert_eq!(parse_percent("--"), None);
    }

    #[test]
    fn info_fields_and_server_errors() {
        let info = parse_info(r#"{"NCPU":2,"MemTotal":25276514304,"ServerVersion":"20.10.24+dfsg1","ServerErrors":null,"Other":[1]}"#)
            .ok()
            .unwrap();
        assert_eq!(
            info,
            HostInfo {
                ncpu: 2,
                mem_total: 25_276_514_304,
                server_version: "20.10.24+dfsg1".to_string()
            }
        );
        match parse_info(r#"{"ServerErrors":["Cannot connect to the Docker daemon"]}"#) {
            Err(InfoProblem::ServerErrors(reason)) => {
                assert_eq!(reason, "Cannot connect to the Docker daemon")
            }
            _ => panic!("expected server errors"),
        }
    }

    #[test]
    fn inspect_reads_limits_health_and_labels() {
        let out = r#"[{"Id":"904651e72b45aa","Name":"/xiaozhi-esp32-server-db","Image":"sha256:a021","RestartCount":2,
          "State":{"Status":"running","ExitCode":0,"StartedAt":"2026-11-25T19:35:48.917491663Z","Health":{"Status":"healthy","FailingStreak":0,"Log":[]}},
          "Config":{"Image":"mysql:latest","Cmd":["--max_connections=1000"],"Labels":{
            "com.docker.compose.project":"dep","com.docker.compose.service":"xiaozhi-esp32-server-db",
            "com.docker.compose.project.working_dir":"/srv/xiaozhi","com.docker.compose.oneoff":"False"}},
          "HostConfig":{"Memory":2147483648,"NanoCpus":2000000000,"MemoryReservation":1073741824}},
          {"Id":"b","Name":"/plain","Image":"sha256:b","State":{"Status":"exited","ExitCode":137},
          "Config":{"Image":"busybox","Cmd":null,"Labels":null},"HostConfig":{"Memory":0,"NanoCpus":0,"MemoryReservation":0}}]"#;
        let containers = parse_inspect(out).unwrap();
        assert_eq!(
            containers[0],
            ContainerInfo {
                id: "904651e72b45aa".to_string(),
                name: "xiaozhi-esp32-server-db".to_string(),
                service: Some("xiaozhi-esp32-server-db".to_string()),
                project: Some("dep".to_string()),
                working_dir: Some(PathBuf::from("/srv/xiaozhi")),
                oneoff: false,
                image_id: "sha256:a021".to_string(),
                image: "mysql:latest".to_string(),
                command: vec!["--max_connections=1000".to_string()],
                status: "running".to_string(),
                health: Some("healthy".to_string()),
                exit_code: 0,
                restart_count: 2,
                started_at: "2026-11-25T19:35:48.917491663Z".to_string(),
                memory: 2_147_483_648,
                nano_cpus: 2_000_000_000,
                memory_reservation: 1_073_741_824,
                memory_swap: 0,
            }
        );
        let plain = &containers[1];
        assert_eq!(
            (
                plain.service.as_deref(),
                plain.health.as_deref(),
                plain.exit_code
            ),
            (None, None, 137)
        );
        let state = ServiceState::from(plain);
        assert_eq!(state.describe(), "exited (code 137)");
        assert!(!state.is_ready());
        assert!(ServiceState::from(&containers[0]).is_ready());
    }

    #[test]
    fn readiness_rules() {
        let state = |status: &str, health: Option<&str>| ServiceState {
            service: "s".to_string(),
            container: "c".to_string(),
            status: status.to_string(),
            health: health.map(str::to_string),
            exit_code: 0,
            restart_count: 0,
            started_at: String::new(),
        };
        assert!(state("running", None).is_ready());
        assert!(state("running", Some("healthy")).is_ready());
        assert!(!state("running", Some("starting")).is_ready());
        assert!(!state("restarting", None).is_ready());
        assert_eq!(
            state("running", Some("starting")).describe(),
            "running (starting)"
        );
    }

    #[test]
    fn labelled_lines_survive_odd_names_and_paths() {
        let out = "[\"abc\",\"xiaozhi-esp32-server\",\"dep\",\"/srv/My Dep, x\"]\n[\"def\",\"loose\",\"\",\"\"]\n";
        assert_eq!(
            parse_labelled(out).unwrap(),
            vec![
                LabelledContainer {
                    id: "abc".to_string(),
                    name: "xiaozhi-esp32-server".to_string(),
                    project: Some("dep".to_string()),
                    working_dir: Some(PathBuf::from("/srv/My Dep, x")),
                },
                LabelledContainer {
                    id: "def".to_string(),
                    name: "loose".to_string(),
                    project: None,
                    working_dir: None,
                },
            ]
        );
    }
}
