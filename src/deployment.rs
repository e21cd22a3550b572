//! A deployment directory opened for a command: its compose file, the role map, the tier
//! catalog and xzup's state, resolved from the command line and `DIR/xzup.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::compose::{self, ComposeFile};
use crate::roles::{Role, RoleMap};
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
    /// Role → compose service name.
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
            DeploymentError::BadMapping { .. } => {
                Some("map a role like `--service db=mysql`".into())
            }
            DeploymentError::Io { .. } => None,
            DeploymentError::Tiers(e) => e.hint(),
            DeploymentError::Compose(e) => e.hint(),
        }
    }

    /// Whether the command line (or `xzup.toml`) was wrong rather than the deployment.
    pub fn is_usage(&self) -> bool {
        matches!(self, DeploymentError::BadMapping { .. })
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
    pub roles: RoleMap,
    opts: DeploymentOptions,
}

impl Deployment {
    /// Opens `opts.dir`: checks it exists, reads `xzup.toml` and the state, builds the
    /// role map (`xzup.toml` first, then `--service`).
    pub fn open(opts: &DeploymentOptions) -> Result<Deployment> {
        let dir = std::path::absolute(&opts.dir)
            .map_err(|e| DeploymentError::io("resolve", &opts.dir, e))?;
        if !dir.is_dir() {
            return Err(DeploymentError::NoDir {
                dir: opts.dir.clone(),
            });
        }
        let config = read_config(&dir)?;
        let state = State::load(&dir)
            .map_err(|e| DeploymentError::io("read", state::state_dir(&dir), e))?;
        let mut roles = RoleMap::default();
        let pairs = config
            .services
            .iter()
            .map(|(r, s)| (r.clone(), s.clone(), CONFIG_FILE))
            .chain(opts.services.iter().map(|pair| {
                let (r, s) = pair.split_once('=').unwrap_or((pair.as_str(), ""));
                (r.to_string(), s.to_string(), "--service")
            }));
        for (role, service, origin) in pairs {
            let parsed: Role = role.parse().map_err(|e: crate::roles::UnknownRole| {
                DeploymentError::BadMapping {
                    origin,
                    message: e.to_string(),
                }
            })?;
            if service.trim().is_empty() {
                return Err(DeploymentError::BadMapping {
                    origin,
                    message: format!("no service name given for role `{role}`"),
                });
            }
            roles.set(parsed, service.trim());
        }
        Ok(Deployment {
            dir,
            config,
            state,
            roles,
            opts: opts.clone(),
        })
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
}

fn read_config(dir: &Path) -> Result<Config> {
    let path = dir.join(CONFIG_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(DeploymentError::io("read", path, e)),
    };
    toml::from_str(&text).map_err(|e| DeploymentError::BadConfig {
        message: e.message().to_string(),
        path,
    })
}
