//! What runs now: each role's container limits (`docker inspect`), its memory in use
//! (`docker stats`), the MySQL variables (`SELECT VERSION()`, `SHOW GLOBAL VARIABLES`) and
//! the Redis parameters (`CONFIG GET`); and the assessment built on them.

use std::collections::BTreeMap;

use serde::Serialize;

use std::path::Path;

use crate::compose::ComposeFile;
use crate::docker::{ComposeCli, ContainerInfo, Docker, DockerError, Project};
use crate::journal::LiveValues;
use crate::roles::{Role, RoleMap};
use crate::settings::Observed;

use super::{Change, DbServer, LiveError, Running, Wanted, decide_all};

/// The MySQL variables a live run reads and may set.
pub(crate) const MYSQL_VARIABLES: [&str; 4] = [
    "max_connections",
    "innodb_buffer_pool_size",
    "innodb_log_file_size",
    "innodb_redo_log_capacity",
];

/// The Redis parameters a live run reads and may set.
pub(crate) const REDIS_PARAMETERS: [&str; 3] = ["maxmemory", "maxmemory-policy", "save"];

/// One role's service and what the new file wants of it.
#[derive(Debug, Clone)]
pub(crate) struct RoleFacts {
    pub role: Role,
    pub service: String,
    pub want: Wanted,
}

/// Setting by setting, what a live change of this stack does, and what runs now.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Assessment {
    pub changes: Vec<Change>,
    /// Service → its values now (what a rollback puts back).
    #[serde(skip)]
    pub before: BTreeMap<String, LiveValues>,
    /// The db server, when there is one and it answered.
    pub db: Option<DbServer>,
}

impl Assessment {
    /// The settings that cannot change live.
    pub fn blockers(&self) -> Vec<&Change> {
        self.changes.iter().filter(|c| !c.is_live()).collect()
    }

    pub fn is_live(&self) -> bool {
        self.blockers().is_empty()
    }

    /// `xiaozhi-esp32-server-redis memory limit 128M -> 32M: the container uses 45M now,
    /// above the new limit; …`.
    pub fn why_not(&self) -> String {
        self.blockers()
            .iter()
            .map(|c| c.describe())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The running values of each of `roles`' containers in `project`. `password`: the
/// MySQL root password (from the compose file's environment).
pub(crate) fn read(
    docker: &Docker,
    project: &str,
    roles: &[(Role, String)],
    password: Option<&str>,
) -> Result<BTreeMap<Role, Running>, DockerError> {
    let containers = docker.project_containers(project)?;
    let running: Vec<&ContainerInfo> = roles
        .iter()
        .filter_map(|(_, service)| {
            containers
                .iter()
                .find(|c| c.service.as_deref() == Some(service) && c.status == "running")
        })
        .collect();
    let names: Vec<&str> = running.iter().map(|c| c.name.as_str()).collect();
    let stats = if names.is_empty() {
        Vec::new()
    } else {
        docker.stats(&names)?
    };
    let mut out = BTreeMap::new();
    for (role, service) in roles {
        let Some(c) = running
            .iter()
            .find(|c| c.service.as_deref() == Some(service))
        else {
            out.insert(*role, Running::default());
            continue;
        };
        let mut values = LiveValues {
            container: c.name.clone(),
            container_id: c.id.clone(),
            started_at: c.started_at.clone(),
            memory: c.memory,
            memory_swap: c.memory_swap,
            nano_cpus: c.nano_cpus,
            memory_reservation: c.memory_reservation,
            ..LiveValues::default()
        };
        let usage = stats
            .iter()
            .find(|s| s.name == c.name || c.id.starts_with(&s.id))
            .and_then(|s| s.mem_usage);
        let mut running = Running {
            usage,
            ..Running::default()
        };
        match role {
            Role::Db => match mysql_values(docker, &c.name, password.unwrap_or_default()) {
                Ok((db, vars)) => {
                    running.db = db;
                    values.mysql = vars;
                }
                Err(e) => running.unreadable = Some(e.to_string()),
            },
            Role::Redis => match redis_values(docker, &c.name) {
                Ok(params) => values.redis = params,
                Err(e) => running.unreadable = Some(e.to_string()),
            },
            _ => {}
        }
        running.values = Some(values);
        out.insert(*role, running);
    }
    Ok(out)
}

/// The server's version and the variables of [`MYSQL_VARIABLES`] it has.
pub(crate) fn mysql_values(
    docker: &Docker,
    container: &str,
    password: &str,
) -> Result<(Option<DbServer>, BTreeMap<String, String>), DockerError> {
    let names = MYSQL_VARIABLES
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(",");
    let sql = format!(
        "SELECT 'version', VERSION(); SHOW GLOBAL VARIABLES WHERE Variable_name IN ({names})"
    );
    let out = docker.mysql(container, "root", password, &sql)?;
    let mut db = None;
    let mut vars = BTreeMap::new();
    for line in out.lines() {
        let Some((name, value)) = line.split_once('\t') else {
            continue;
        };
        if name == "version" {
            db = DbServer::parse(value);
        } else {
            vars.insert(name.to_string(), value.trim().to_string());
        }
    }
    Ok((db, vars))
}

/// The parameters of [`REDIS_PARAMETERS`], as `CONFIG GET` prints them.
pub(crate) fn redis_values(
    docker: &Docker,
    container: &str,
) -> Result<BTreeMap<String, String>, DockerError> {
    let mut params = BTreeMap::new();
    for name in REDIS_PARAMETERS {
        let out = docker.redis_cli(container, &["CONFIG", "GET", name])?;
        let lines: Vec<&str> = out.lines().collect();
        if let [key, value, ..] = lines.as_slice()
            && key.trim() == name
        {
            params.insert(name.to_string(), value.trim().to_string());
        }
    }
    Ok(params)
}

/// Reads what runs and decides, setting by setting, what can change live.
pub(crate) fn assess(
    docker: &Docker,
    project: &str,
    wanted: &[RoleFacts],
    password: Option<&str>,
) -> Result<Assessment, DockerError> {
    let roles: Vec<(Role, String)> = wanted.iter().map(|f| (f.role, f.service.clone())).collect();
    let running = read(docker, project, &roles, password)?;
    let want: BTreeMap<Role, (String, Wanted)> = wanted
        .iter()
        .map(|f| (f.role, (f.service.clone(), f.want.clone())))
        .collect();
    let changes = decide_all(&want, &running);
    let before = running
        .iter()
        .filter_map(|(role, r)| {
            let service = want.get(role)?.0.clone();
            Some((service, r.values.clone()?))
        })
        .collect();
    let db = running.get(&Role::Db).and_then(|r| r.db);
    Ok(Assessment {
        changes,
        before,
        db,
    })
}

/// Each role of `roles` and what `observed` (the new file) sets for it.
pub(crate) fn facts_of(roles: &RoleMap, observed: &Observed) -> Vec<RoleFacts> {
    roles
        .iter()
        .map(|(role, service)| RoleFacts {
            role,
            service: service.to_string(),
            want: Wanted {
                resources: observed.services.get(&role).cloned().unwrap_or_default(),
                mysql: if role == Role::Db {
                    observed.mysql.clone()
                } else {
                    Default::default()
                },
                redis: if role == Role::Redis {
                    observed.redis.clone()
                } else {
                    Default::default()
                },
            },
        })
        .collect()
}

/// `MYSQL_ROOT_PASSWORD` of the db service in `compose`.
pub(crate) fn root_password(roles: &RoleMap, compose: &ComposeFile) -> Option<String> {
    roles
        .service(Role::Db)
        .and_then(|db| compose.environment(db).get("MYSQL_ROOT_PASSWORD").cloned())
}

/// The assessment of moving the stack of `source` (in `dir`) to `new`, for the plan and
/// `apply` before a run starts: the Compose project found as preflight finds it.
pub(crate) fn assess_files(
    docker: &Docker,
    dir: &Path,
    source: &ComposeFile,
    new: &ComposeFile,
    roles: &RoleMap,
) -> Result<Assessment, LiveError> {
    let cli = ComposeCli::detect(docker)?;
    let names: Vec<String> = source.container_names().into_values().collect();
    let project = Project::discover(docker, cli.flavour, dir, &source.path, &names)?;
    let observed = new.observe(roles)?;
    let facts = facts_of(roles, &observed);
    let password = root_password(roles, new);
    Ok(assess(docker, &project.name, &facts, password.as_deref())?)
}
