//! Whether the data a backup reads or a restore replaces is in use: the db and web services
//! of the deployment whose containers run. `xzup backup` warns (a datadir copied under a
//! running mysqld is not a consistent backup) and `xzup restore` refuses (swapping a datadir
//! under a running mysqld leaves it writing to the quarantined copy).

use std::fmt;
use std::path::Path;

use crate::compose::ComposeFile;
use crate::docker::{Compose, ContainerInfo, Docker, DockerError};
use crate::roles::{Role, RoleMap};

/// The data services (db, web) whose containers run, restart or are paused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningServices(pub Vec<String>);

impl RunningServices {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `` `db` is running `` or `` `db`, `web` are running ``.
impl fmt::Display for RunningServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.0.len() == 1 { "is" } else { "are" };
        write!(f, "`{}` {verb} running", self.0.join("`, `"))
    }
}

/// The data services of the deployment in `dir` whose containers run. An error when no
/// Docker engine answers: then nothing could be checked, and the caller says so.
pub fn running_data_services(
    dir: &Path,
    compose: &ComposeFile,
    roles: &RoleMap,
) -> Result<RunningServices, DockerError> {
    let docker = Docker::new().with_secrets(compose.secrets());
    let names: Vec<String> = compose.container_names().into_values().collect();
    let (c, _) = Compose::open(&docker, dir, &compose.path, &names)?;
    let containers = docker.project_containers(c.project())?;
    Ok(RunningServices(data_services_running(
        dir,
        roles,
        &containers,
    )))
}

/// Of `containers`, the db and web services started from `dir` that run.
fn data_services_running(dir: &Path, roles: &RoleMap, containers: &[ContainerInfo]) -> Vec<String> {
    // The upstream file pins container names, so the project found by name may be another
    // checkout's stack: only containers started from this dir count (Compose records it;
    // one without the record counts, to be safe).
    let here = std::fs::canonicalize(dir).ok();
    let ours = |c: &ContainerInfo| {
        c.working_dir
            .as_deref()
            .is_none_or(|w| std::fs::canonicalize(w).ok() == here)
    };
    [Role::Db, Role::Web]
        .iter()
        .filter_map(|role| roles.service(*role))
        .filter(|service| {
            containers.iter().any(|c| {
                c.service.as_deref() == Some(*service)
                    && ours(c)
                    && matches!(c.status.as_str(), "running" | "restarting" | "paused")
            })
        })
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(service: &str, status: &str, working_dir: Option<&Path>) -> ContainerInfo {
        ContainerInfo {
            id: "c1".into(),
            name: service.into(),
            service: Some(service.into()),
            project: Some("p".into()),
            working_dir: working_dir.map(Path::to_path_buf),
            oneoff: false,
            image_id: "sha256:1".into(),
            image: "i".into(),
            command: Vec::new(),
            status: status.into(),
            health: None,
            exit_code: 0,
            restart_count: 0,
            started_at: String::new(),
            memory: 0,
            nano_cpus: 0,
            memory_reservation: 0,
            memory_swap: 0,
        }
    }

    #[test]
    fn only_running_data_services_of_this_dir_count() {
        let here = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let roles = RoleMap::default();
        let db = roles.service(Role::Db).unwrap().to_string();
        let web = roles.service(Role::Web).unwrap().to_string();
        let redis = roles.service(Role::Redis).unwrap().to_string();
        let running = data_services_running(
            here.path(),
            &roles,
            &[
                container(&db, "running", Some(here.path())),
                container(&web, "exited", Some(here.path())),
                container(&redis, "running", Some(here.path())),
            ],
        );
        assert_eq!(running, vec![db.clone()]);
        // Another checkout's stack with the same pinned names: not ours.
        let theirs = data_services_running(
            here.path(),
            &roles,
            &[container(&db, "running", Some(elsewhere.path()))],
        );
        assert!(theirs.is_empty());
        // No record of where it was started: counted, to be safe.
        let unknown =
            data_services_running(here.path(), &roles, &[container(&web, "paused", None)]);
        assert_eq!(unknown, [web]);
    }

    #[test]
    fn reads_as_a_sentence() {
        assert_eq!(
            RunningServices(vec!["db".into()]).to_string(),
            "`db` is running"
        );
        assert_eq!(
            RunningServices(vec!["db".into(), "web".into()]).to_string(),
            "`db`, `web` are running"
        );
    }
}
