//! `xzup status` after a live run: the MySQL/Redis values that run against what the
//! active file says, and what a restart of a container would revert. A live run sets the
//! values at run time; the container's own command (what it was created with) still
//! holds the old flags, so a restart — a crash, a host reboot, `docker restart` — brings
//! those back, while `docker update` limits stay. Recreating the containers from the
//! active file settles it, at a moment the operator chooses.

use std::path::Path;

use serde::Serialize;

use crate::compose::command_flags;
use crate::docker::{Compose, ContainerInfo, Docker};
use crate::roles::Role;
use crate::settings::{ObservedMysql, ObservedRedis};
use crate::units::human_bytes;

use super::probe::{mysql_values, redis_values};
use super::{DbServer, log_size_variable, save_text};

/// What runs otherwise than the active file, or would on a restart.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Drift {
    /// Settings that run otherwise than the active file says.
    pub differs: Vec<String>,
    /// Settings that run as the file says, set at run time: a restart of the container
    /// reverts them to its own command's.
    pub reverts_on_restart: Vec<String>,
    /// The one command that settles both (recreates the containers from the active file).
    pub settle: Option<String>,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.differs.is_empty() && self.reverts_on_restart.is_empty()
    }
}

/// `docker compose -p PROJECT -f FILE up -d`, run in the deployment dir: Compose
/// recreates each container whose configuration differs from the file.
fn settle_command(compose: &Compose, dir: &Path) -> String {
    let file = compose.file();
    let file = file.strip_prefix(dir).unwrap_or(file);
    format!(
        "{} -p {} -f {} up -d",
        compose.cli().command(),
        compose.project(),
        file.display()
    )
}

/// One value as it runs, as the file says, as the container's command says.
struct Value {
    what: String,
    runs: String,
    file: String,
    command: Option<String>,
}

/// The drift of the db and redis containers of `running` against the file's flags.
pub(crate) fn drift(
    docker: &Docker,
    compose: &Compose,
    dir: &Path,
    running: &[(Role, String, &ContainerInfo)],
    mysql: &ObservedMysql,
    redis: &ObservedRedis,
    password: Option<&str>,
) -> Drift {
    let mut values: Vec<Value> = Vec::new();
    for (role, service, c) in running {
        if c.status != "running" {
            continue;
        }
        match role {
            Role::Db => {
                let Ok((db, vars)) = mysql_values(docker, &c.name, password.unwrap_or_default())
                else {
                    continue;
                };
                let cmd = command_flags::read_mysql(&c.command).unwrap_or_default();
                values.extend(mysql_drift(service, db, &vars, mysql, &cmd));
            }
            Role::Redis => {
                let Ok(params) = redis_values(docker, &c.name) else {
                    continue;
                };
                let cmd = command_flags::read_redis(&c.command).unwrap_or_default();
                values.extend(redis_drift(service, &params, redis, &cmd));
            }
            _ => {}
        }
    }
    let mut out = Drift::default();
    for v in values {
        if v.runs != v.file {
            out.differs.push(format!(
                "{} runs {}, the file says {}",
                v.what, v.runs, v.file
            ));
        } else if let Some(command) = v.command.filter(|c| *c != v.file) {
            out.reverts_on_restart.push(format!(
                "{} {} was set at run time: a restart of the container gives {command} (the command it was created with)",
                v.what, v.runs
            ));
        }
    }
    if !out.is_empty() {
        out.settle = Some(settle_command(compose, dir));
    }
    out
}

fn mysql_drift(
    service: &str,
    db: Option<DbServer>,
    vars: &std::collections::BTreeMap<String, String>,
    want: &ObservedMysql,
    cmd: &ObservedMysql,
) -> Vec<Value> {
    let mut out = Vec::new();
    // MySQL 8 keeps what xzup set with SET PERSIST: a restart does not revert it.
    let persisted = db.is_some_and(DbServer::has_set_persist);
    let bytes = |v: Option<&String>| {
        v.and_then(|v| v.parse::<u64>().ok())
            .map_or("unknown".to_string(), human_bytes)
    };
    if let Some(n) = want.max_connections {
        out.push(Value {
            what: format!("{service} max_connections"),
            runs: vars
                .get("max_connections")
                .cloned()
                .unwrap_or("unknown".into()),
            file: n.to_string(),
            command: (!persisted).then(|| cmd.max_connections.unwrap_or(151).to_string()),
        });
    }
    if let Some(pool) = &want.innodb_buffer_pool_size {
        out.push(Value {
            what: format!("{service} innodb_buffer_pool_size"),
            runs: bytes(vars.get("innodb_buffer_pool_size")),
            file: human_bytes(pool.bytes),
            command: (!persisted).then(|| {
                human_bytes(
                    cmd.innodb_buffer_pool_size
                        .as_ref()
                        .map_or(128 << 20, |m| m.bytes),
                )
            }),
        });
    }
    if let (Some(log), Some(db)) = (&want.innodb_log_file_size, db) {
        let (name, value) = log_size_variable(db, log.bytes);
        out.push(Value {
            what: format!("{service} {name}"),
            runs: bytes(vars.get(name)),
            file: human_bytes(value),
            command: (!persisted).then(|| {
                cmd.innodb_log_file_size
                    .as_ref()
                    .map_or("the default".into(), |m| {
                        human_bytes(log_size_variable(db, m.bytes).1)
                    })
            }),
        });
    }
    out
}

fn redis_drift(
    service: &str,
    params: &std::collections::BTreeMap<String, String>,
    want: &ObservedRedis,
    cmd: &ObservedRedis,
) -> Vec<Value> {
    let mut out = Vec::new();
    let bytes = |v: Option<&String>| {
        v.and_then(|v| v.parse::<u64>().ok())
            .map_or("unknown".to_string(), human_bytes)
    };
    if let Some(max) = &want.maxmemory {
        out.push(Value {
            what: format!("{service} maxmemory"),
            runs: bytes(params.get("maxmemory")),
            file: human_bytes(max.bytes),
            command: Some(human_bytes(cmd.maxmemory.as_ref().map_or(0, |m| m.bytes))),
        });
    }
    if let Some(policy) = &want.maxmemory_policy {
        out.push(Value {
            what: format!("{service} maxmemory-policy"),
            runs: params
                .get("maxmemory-policy")
                .cloned()
                .unwrap_or("unknown".into()),
            file: policy.to_ascii_lowercase(),
            command: Some(
                cmd.maxmemory_policy
                    .as_deref()
                    .unwrap_or("noeviction")
                    .to_ascii_lowercase(),
            ),
        });
    }
    if !want.save.is_empty() {
        out.push(Value {
            what: format!("{service} save"),
            runs: format!("\"{}\"", params.get("save").cloned().unwrap_or_default()),
            file: format!("\"{}\"", save_text(&want.save)),
            command: (!cmd.save.is_empty()).then(|| format!("\"{}\"", save_text(&cmd.save))),
        });
    }
    out
}
