//! Setting values on a running container: limits (`docker update`), MySQL variables
//! (`SET GLOBAL`, and `SET PERSIST` on MySQL 8, so a restart keeps them), Redis
//! parameters (`CONFIG SET`). Setting the same value twice is harmless: a resumed step
//! does it again.

use std::time::{Duration, Instant};

use crate::docker::{Docker, DockerError};
use crate::journal::LiveValues;
use crate::roles::Role;

use super::{DbServer, Limits, Wanted, limits, limits_back, mysql_targets, redis_targets};

/// How long MariaDB/MySQL may take to resize its buffer pool online.
const RESIZE_WITHIN: Duration = Duration::from_secs(180);

/// One part of a role's change, in the order [`set_target`] makes them: limits first when
/// the memory limit grows (room before use), last when it shrinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Limits(Limits),
    Mysql(Vec<(String, String)>),
    Redis(Vec<(String, String)>),
}

/// The parts that bring `before` to `want`, in order (empty ones left out).
pub(crate) fn parts(
    role: Role,
    before: &LiveValues,
    want: &Wanted,
    db: Option<DbServer>,
) -> Vec<Part> {
    let limits = limits(before, &want.resources);
    let settings = match role {
        Role::Db => {
            let targets: Vec<_> = mysql_targets(&want.mysql, db)
                .into_iter()
                .filter(|(name, value)| before.mysql.get(name) != Some(value))
                .collect();
            (!targets.is_empty()).then_some(Part::Mysql(targets))
        }
        Role::Redis => {
            let targets: Vec<_> = redis_targets(&want.redis)
                .into_iter()
                .filter(|(name, value)| before.redis.get(name) != Some(value))
                .collect();
            (!targets.is_empty()).then_some(Part::Redis(targets))
        }
        _ => None,
    };
    let grows = limits.memory.is_none_or(|m| m >= before.memory);
    let limits = (!limits.is_empty()).then_some(Part::Limits(limits));
    let mut out = Vec::new();
    if grows {
        out.extend(limits.clone());
        out.extend(settings);
    } else {
        out.extend(settings);
        out.extend(limits);
    }
    out
}

/// Makes one part on `container`; a summary for the step's line.
pub(crate) fn set_target(
    docker: &Docker,
    container: &str,
    part: &Part,
    db: Option<DbServer>,
    password: &str,
) -> Result<String, DockerError> {
    match part {
        Part::Limits(limits) => {
            docker.update(container, &limits.argv())?;
            Ok("limits".to_string())
        }
        Part::Mysql(vars) => {
            let persist = db.is_some_and(DbServer::has_set_persist);
            for (name, value) in vars {
                set_mysql(docker, container, password, name, value, persist)?;
            }
            Ok(format!(
                "{}{}",
                vars.iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                if persist { " (persisted)" } else { "" }
            ))
        }
        Part::Redis(params) => {
            for (name, value) in params {
                docker.redis_cli(container, &["CONFIG", "SET", name.as_str(), value.as_str()])?;
            }
            Ok(params
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "))
        }
    }
}

/// `SET GLOBAL name = value` (`SET PERSIST` when `persist`), then, for the buffer pool,
/// waits until the online resize is over.
fn set_mysql(
    docker: &Docker,
    container: &str,
    password: &str,
    name: &str,
    value: &str,
    persist: bool,
) -> Result<(), DockerError> {
    // Names and values are ours (MYSQL_VARIABLES, numbers): nothing to quote.
    let scope = if persist { "PERSIST" } else { "GLOBAL" };
    let resize = name == "innodb_buffer_pool_size";
    let status_before = if resize {
        resize_status(docker, container, password)?
    } else {
        String::new()
    };
    docker.mysql(
        container,
        "root",
        password,
        &format!("SET {scope} {name} = {value}"),
    )?;
    if resize {
        wait_resized(docker, container, password, &status_before)?;
    }
    Ok(())
}

fn resize_status(docker: &Docker, container: &str, password: &str) -> Result<String, DockerError> {
    let out = docker.mysql(
        container,
        "root",
        password,
        "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_resize_status'",
    )?;
    Ok(out
        .split_once('\t')
        .map_or(String::new(), |(_, v)| v.trim().to_string()))
}

/// The resize runs in the background: it is over when the status is empty (MariaDB
/// reports nothing once done) or a new "Completed …" line.
fn wait_resized(
    docker: &Docker,
    container: &str,
    password: &str,
    before: &str,
) -> Result<(), DockerError> {
    let deadline = Instant::now() + RESIZE_WITHIN;
    loop {
        let status = resize_status(docker, container, password)?;
        let done = status.is_empty()
            || (status != before && status.to_ascii_lowercase().starts_with("completed"));
        if done {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(DockerError::Parse {
                command: format!("SHOW GLOBAL STATUS in {container}"),
                detail: format!(
                    "the buffer pool resize did not finish within {}s: {status}",
                    RESIZE_WITHIN.as_secs()
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Puts `before` back on its container (now `now`): limits, MySQL variables (a persisted
/// one unpersisted first), Redis parameters. Only what differs is set.
pub(crate) fn restore(
    docker: &Docker,
    now: &LiveValues,
    before: &LiveValues,
    db: Option<DbServer>,
    password: &str,
) -> Result<Vec<String>, DockerError> {
    let container = before.container.as_str();
    let mut done = Vec::new();
    let back = limits_back(now, before);
    let shrinks = back.memory.is_some_and(|m| m < now.memory);
    if !back.is_empty() && !shrinks {
        docker.update(container, &back.argv())?;
        done.push("limits".to_string());
    }
    let persist = db.is_some_and(DbServer::has_set_persist);
    for (name, value) in &before.mysql {
        if now.mysql.get(name) == Some(value) || !settable_mysql(name, db) {
            continue;
        }
        if persist {
            docker.mysql(
                container,
                "root",
                password,
                &format!("RESET PERSIST IF EXISTS {name}"),
            )?;
        }
        set_mysql(docker, container, password, name, value, false)?;
        done.push(name.clone());
    }
    for (name, value) in &before.redis {
        if now.redis.get(name) == Some(value) {
            continue;
        }
        docker.redis_cli(container, &["CONFIG", "SET", name.as_str(), value.as_str()])?;
        done.push(name.clone());
    }
    if !back.is_empty() && shrinks {
        docker.update(container, &back.argv())?;
        done.push("limits".to_string());
    }
    Ok(done)
}

/// Whether xzup sets `name` on `db` at all (the other log size variable is read-only).
fn settable_mysql(name: &str, db: Option<DbServer>) -> bool {
    match (name, db) {
        ("innodb_log_file_size", Some(db)) => !db.has_redo_log_capacity(),
        ("innodb_redo_log_capacity", Some(db)) => db.has_redo_log_capacity(),
        _ => true,
    }
}
