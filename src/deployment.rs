//! A deployment directory opened for a command: its compose file, the role map, the tier
//! catalog and xzup's state, resolved from the command line and `DIR/xzup.toml`.
//!
//! The operator's role mappings (`[services]`, then `--service`) are read and checked when
//! the deployment is opened; which service plays each role is resolved against the compose
//! file ([`Deployment::roles`]), since the rules read its images and ports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::compose::{self, ComposeFile};
use crate::roles::{NONE, Origin, Override, Overrides, Role, RoleMap};
use crate::state::{self, State};
use crate::tiers::Catalog;

/// The global options, as plain settings.
#[derive(Debug, Clone, Default)]
pub struct DeploymentOptions {
    pub dir: PathBuf,
    pub file: Option<PathBuf>,
    pub tiers_file: Option<PathBuf>,
    /// `ROLE=SERVICE` pairs from `--service`.
    pub services: Vec<String>,
}

/// `DIR/xzup.toml`: per-deployment settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A tiers file, relative to the deployment dir.
    pub tiers_file: Option<PathBuf>,
    /// Role → compose service name (`"none"`: no service plays it).
    #[serde(default)]
    pub services: BTreeMap<String, String>,
}

pub const CONFIG_FILE: &str = "xzup.toml";

/// Why a deployment could not be opened, or one of its files read.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    #[error("deployment directory `{}` does not exist", dir.display())]
    NoDir { dir: PathBuf },
    #[error("`{}` is not valid: {message}", path.display())]
    BadConfig { path: PathBuf, message: String },
    /// A role mapping on the command line or in `xzup.toml` is wrong (a usage error).
    #[error("{origin}: {message}")]
    BadMapping {
        origin: &'static str,
        message: String,
    },
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error(transparent)]
    Tiers(#[from] crate::tiers::TiersError),
    #[error(transparent)]
    Compose(#[from] compose::ComposeError),
}

impl DeploymentError {
    pub fn hint(&self) -> Option<String> {
        match self {
            DeploymentError::NoDir { .. } => {
                Some("pass the directory that holds the compose file with `-C DIR`".into())
            }
            DeploymentError::BadConfig { .. } => Some(
                "xzup.toml takes `tiers_file = \"FILE\"` and a `[services]` table of role = \"service\""
                    .into(),
            ),
            DeploymentError::BadMapping { .. } => Some(
                "map a role to a service of the compose file, one service per role: \
                 `--service db=mysql` (`--service db=none` when no service plays it)"
                    .into(),
            ),
            DeploymentError::Io { .. } => None,
            DeploymentError::State(e) => e.hint(),
            DeploymentError::Tiers(e) => e.hint(),
            DeploymentError::Compose(e) => e.hint(),
        }
    }

    /// Whether the command line (or `xzup.toml`) was wrong rather than the deployment.
    pub fn is_usage(&self) -> bool {
        match self {
            DeploymentError::BadMapping { .. } => true,
            DeploymentError::Compose(e) => e.is_usage(),
            _ => false,
        }
    }

    fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DeploymentError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

type Result<T, E = DeploymentError> = std::result::Result<T, E>;

/// A deployment directory with its configuration, before any compose file is read.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The deployment directory, absolute.
    pub dir: PathBuf,
    pub config: Config,
    pub state: State,
    /// The roles the operator mapped; [`Deployment::roles`] resolves the rest.
    pub overrides: Overrides,
    opts: DeploymentOptions,
}

impl Deployment {
    /// Opens `opts.dir`: checks it exists, reads `xzup.toml` and the state, and the
    /// operator's role mappings (`xzup.toml` first, then `--service`).
    pub fn open(opts: &DeploymentOptions) -> Result<Deployment> {
        let (deployment, state) = Deployment::open_despite_state(opts)?;
        match state {
            Some(e) => Err(e.into()),
            None => Ok(deployment),
        }
    }

    /// Like [`Deployment::open`], but a damaged `state.json` is handed back beside a
    /// deployment with the default state, for what can go on without it (`history`). `.xzup`
    /// that is not a directory still fails: nothing of xzup's can be read there.
    pub fn open_despite_state(
        opts: &DeploymentOptions,
    ) -> Result<(Deployment, Option<state::StateError>)> {
        let dir = std::path::absolute(&opts.dir)
            .map_err(|e| DeploymentError::io("resolve", &opts.dir, e))?;
        if !dir.is_dir() {
            return Err(DeploymentError::NoDir {
                dir: opts.dir.clone(),
            });
        }
        let config = read_config(&dir)?;
        let (state, damaged) = match State::load(&dir) {
            Ok(state) => (state, None),
            Err(e @ state::StateError::Damaged { .. }) => (State::default(), Some(e)),
            Err(e) => return Err(e.into()),
        };
        let overrides = overrides(&config, &opts.services)?;
        let deployment = Deployment {
            dir,
            config,
            state,
            overrides,
            opts: opts.clone(),
        };
        Ok((deployment, damaged))
    }

    /// `DIR/.xzup`
    pub fn state_dir(&self) -> PathBuf {
        state::state_dir(&self.dir)
    }

    /// The default backup directory, `DIR/backups` ([`crate::backup::DEFAULT_DIR`]).
    pub fn backups_dir(&self) -> PathBuf {
        self.dir.join(crate::backup::DEFAULT_DIR)
    }

    /// Resolves a path given by the operator against the deployment dir.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir.join(path)
        }
    }

    /// The tiers file in use (absolute): `--tiers-file`, else `tiers_file` in `xzup.toml`;
    /// `None`: the built-in catalog.
    pub fn tiers_file(&self) -> Option<PathBuf> {
        if let Some(path) = &self.opts.tiers_file {
            return Some(std::path::absolute(path).unwrap_or_else(|_| path.clone()));
        }
        self.config.tiers_file.as_deref().map(|p| self.resolve(p))
    }

    /// The tier catalog: `--tiers-file`, else `tiers_file` in `xzup.toml`, else built in.
    pub fn catalog(&self) -> Result<Catalog> {
        if let Some(path) = &self.opts.tiers_file {
            return Ok(Catalog::load(path)?);
        }
        if let Some(path) = &self.config.tiers_file {
            return Ok(Catalog::load(&self.resolve(path))?);
        }
        Ok(Catalog::embedded())
    }

    /// The path of the compose file to read (see [`compose::locate`]).
    pub fn compose_path(&self) -> Result<PathBuf> {
        let explicit = self.opts.file.as_deref();
        let explicit = explicit.map(|f| {
            // `-f` is relative to the current directory, like every other tool's.
            std::path::absolute(f).unwrap_or_else(|_| f.to_path_buf())
        });
        let last = self.state.active_compose.as_deref();
        Ok(compose::locate(&self.dir, explicit.as_deref(), last)?)
    }

    /// Reads the compose file.
    pub fn compose(&self) -> Result<ComposeFile> {
        Ok(ComposeFile::load(&self.compose_path()?)?)
    }

    /// Which service of `compose` plays each role: the operator's mappings, then the rules
    /// of `compose/roles.rs`.
    pub fn roles(&self, compose: &ComposeFile) -> Result<RoleMap> {
        Ok(compose
            .roles(&self.overrides)
            .map_err(compose::ComposeError::from)?)
    }
}

/// The operator's mappings: `[services]` of `xzup.toml`, then `--service ROLE=SERVICE`
/// (which replaces a mapping of the same role). A role given twice in one place, a role
/// name xzup does not know, no service name, or two roles on one service: usage errors.
fn overrides(config: &Config, services: &[String]) -> Result<Overrides> {
    let bad = |origin: Origin, message: String| DeploymentError::BadMapping {
        origin: origin.name(),
        message,
    };
    let config_pairs = config
        .services
        .iter()
        .map(|(r, s)| (r.clone(), s.clone(), Origin::Config));
    let option_pairs = services.iter().map(|pair| {
        let (r, s) = pair.split_once('=').unwrap_or((pair.as_str(), ""));
        (r.to_string(), s.to_string(), Origin::CommandLine)
    });
    let mut overrides = Overrides::default();
    let mut seen: Vec<(Role, Origin)> = Vec::new();
    for (role, service, origin) in config_pairs.chain(option_pairs) {
        let parsed: Role = role
            .parse()
            .map_err(|e: crate::roles::UnknownRole| bad(origin, e.to_string()))?;
        let service = service.trim();
        if service.is_empty() {
            return Err(bad(
                origin,
                format!("no service name given for role `{}`", role.trim()),
            ));
        }
        if seen.contains(&(parsed, origin)) {
            return Err(bad(
                origin,
                format!(
                    "the {parsed} role is mapped twice (`{}` is one of them)",
                    role.trim()
                ),
            ));
        }
        seen.push((parsed, origin));
        let service = (service != NONE).then(|| service.to_string());
        overrides.set(parsed, Override { service, origin });
    }
    overrides
        .check()
        .map_err(|e| bad(e.origin(), e.to_string()))?;
    Ok(overrides)
}

fn read_config(dir: &Path) -> Result<Config> {
    let path = dir.join(CONFIG_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(DeploymentError::io("read", path, e)),
    };
    parse_config(&path, &text)
}

/// `xzup.toml` as read from `path`: the settings and the role mappings they make.
pub(crate) fn parse_config(path: &Path, text: &str) -> Result<Config> {
    let config: Config = toml::from_str(text).map_err(|e| DeploymentError::BadConfig {
        message: e.message().to_string(),
        path: path.to_path_buf(),
    })?;
    overrides(&config, &[])?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config {
            tiers_file: None,
            services: pairs
                .iter()
                .map(|(r, s)| (r.to_string(), s.to_string()))
                .collect(),
        }
    }

    fn cli(pairs: &[&str]) -> Vec<String> {
        pairs.iter().map(|p| p.to_string()).collect()
    }

    fn mapped(o: &Overrides) -> Vec<(Role, Option<String>, &'static str)> {
        o.iter()
            .map(|(r, o)| (r, o.service.clone(), o.origin.name()))
            .collect()
    }

    #[test]
    fn the_command_line_replaces_xzup_toml() {
        let o = overrides(
            &config(&[("db", "mysql"), ("redis", "cache")]),
            &cli(&["db=xiaozhi-db", "web=none", " server = app "]),
        )
        .unwrap();
        assert_eq!(
            mapped(&o),
            [
                (Role::Server, Some("app".into()), "--service"),
                (Role::Db, Some("xiaozhi-db".into()), "--service"),
                (Role::Redis, Some("cache".into()), "xzup.toml"),
                (Role::Web, None, "--service"),
            ]
        );
    }

    fn usage_error(config_pairs: &[(&str, &str)], pairs: &[&str]) -> String {
        let err = overrides(&config(config_pairs), &cli(pairs)).unwrap_err();
        assert!(err.is_usage(), "{err}");
        err.to_string()
    }

    #[test]
    fn bad_mappings_are_usage_errors() {
        assert_eq!(
            usage_error(&[], &["db=kv", "redis=kv"]),
            "--service: the db and redis roles are both mapped to service `kv`: a service plays one role"
        );
        // Across the two places, and only once both are in.
        assert_eq!(
            usage_error(&[("redis", "kv")], &["db=kv"]),
            "--service: the db role (--service) and the redis role (xzup.toml) are both mapped \
             to service `kv`: a service plays one role"
        );
        assert!(overrides(&config(&[("redis", "kv")]), &cli(&["db=kv", "redis=cache"])).is_ok());
        assert_eq!(
            usage_error(&[], &["db=a", "mysql=b"]),
            "--service: the db role is mapped twice (`mysql` is one of them)"
        );
        assert_eq!(
            usage_error(&[("db", "a"), ("mysql", "b")], &[]),
            "xzup.toml: the db role is mapped twice (`mysql` is one of them)"
        );
        assert_eq!(
            usage_error(&[], &["gpu=x"]),
            "--service: unknown role `gpu`: the roles are server, db, redis, web"
        );
        assert_eq!(
            usage_error(&[], &["db="]),
            "--service: no service name given for role `db`"
        );
        assert_eq!(
            usage_error(&[], &["db"]),
            "--service: no service name given for role `db`"
        );
    }
}
