//! The data paths of a deployment: every place on this host whose content a backup takes
//! and a restore puts back — the mounts of the data-bearing services (db and web) as Docker
//! mounts them, the server's `data/`, the compose files — and what is left out, with why.
//!
//! One [`DataPath`] is one such place: where it comes from ([`Origin`]: a bind mount written
//! relative or absolute, a named volume, a file of the deployment itself), where to read it
//! on this host ([`DataPath::host`]: symlinks followed, as Docker follows them when it
//! mounts; a volume's mountpoint), and its name in the archive ([`DataPath::name`]). The
//! backup (`crate::backup`) archives data paths and restores them; anything else that
//! copies a deployment's data (a pre-copy before the stack stops) takes the same list.
//!
//! Names in the archive, so that `tar -xzf` in an empty dir gives a layout a person reads:
//!
//! | origin | name |
//! |---|---|
//! | inside the deployment dir (`./mysql/data`, `data/`, a compose file) | its path there: `mysql/data` |
//! | a host path outside it (`/srv/xz/mysql`, `../shared`) | `host-paths/srv/xz/mysql` |
//! | a named volume | `docker-volumes/<engine name>`: `docker-volumes/xz_dbdata` |
//!
//! Which services hold data is decided here, once: db and web (`uploadfile`). The server's
//! other mounts are code and models, Redis keeps a cache; their mounts are listed as left
//! out, so the plan can say what is not backed up and why.

mod volumes;

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::compose::{ComposeError, ComposeFile, Env, Mount, MountKind};
use crate::roles::{Role, RoleMap};

pub use volumes::{EngineVolumes, NoEngine, Volumes, mountpoint_readable};

/// Where named volumes go in the archive.
pub const VOLUMES_DIR: &str = "docker-volumes";
/// Where host paths outside the deployment dir go in the archive.
pub const HOST_PATHS_DIR: &str = "host-paths";

/// The server's config dir, always backed up when present.
const SERVER_DATA: &str = "data";
/// Where the model files live.
const MODELS: &str = "models";

/// One place of this deployment whose content the backup takes (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataPath {
    /// Its name in the archive: relative, `/`-separated (see the module doc).
    pub name: String,
    pub origin: Origin,
    /// Where the compose file puts it on the host (absolute, `.`/`..` resolved, symlinks
    /// not followed): what the operator recognises. A volume's mountpoint.
    pub path: PathBuf,
    /// Where it is read from and restored to: [`DataPath::path`] with symlinks followed,
    /// which is what Docker mounts.
    pub host: PathBuf,
    /// Set for a volume this process cannot read at its mountpoint (not root; a driver
    /// that mounts the content elsewhere): its content is read and written through a
    /// throwaway container of this image, the one of the service that mounts it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through_image: Option<String>,
}

/// Where a data path comes from. Kept in the archive's manifest for each of its roots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Origin {
    /// A bind mount written relative to the project dir (`./mysql/data`, `../shared`).
    BindRelative {
        service: String,
        target: String,
        /// As the file writes it, variables and all.
        source: String,
    },
    /// A bind mount written as an absolute host path (`/srv/xz/mysql`, `${DATA:-/srv}/db`).
    BindAbsolute {
        service: String,
        target: String,
        source: String,
    },
    /// A named volume: its key in the file and its name in the engine.
    Volume {
        service: String,
        target: String,
        key: String,
        volume: String,
    },
    /// A file or directory of the deployment itself.
    Deployment { part: Part },
}

/// Why a path of the deployment dir is backed up although no data service mounts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    /// `data/`: the server's config (`.config.yaml`).
    ServerConfig,
    /// A compose file at the top of the deployment dir.
    ComposeFile,
    /// The `.env` file Compose reads variables from.
    EnvFile,
    /// `xzup.toml`: which service plays which role, the tiers file.
    XzupConfig,
    /// Named by `--include`.
    Included,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::BindRelative {
                service, target, ..
            }
            | Origin::BindAbsolute {
                service, target, ..
            } => write!(f, "bind mount of `{service}` at {target}"),
            Origin::Volume {
                service,
                target,
                key,
                ..
            } => write!(f, "volume `{key}` of `{service}` at {target}"),
            Origin::Deployment { part } => f.write_str(match part {
                Part::ServerConfig => "the server's config",
                Part::ComposeFile => "compose file",
                Part::EnvFile => "Compose variables",
                Part::XzupConfig => "xzup's settings",
                Part::Included => "--include",
            }),
        }
    }
}

impl Origin {
    /// The volume's engine name, for a volume.
    pub fn volume(&self) -> Option<&str> {
        match self {
            Origin::Volume { volume, .. } => Some(volume),
            _ => None,
        }
    }

    /// The service that mounts it, for a mount.
    pub fn service(&self) -> Option<&str> {
        match self {
            Origin::BindRelative { service, .. }
            | Origin::BindAbsolute { service, .. }
            | Origin::Volume { service, .. } => Some(service),
            Origin::Deployment { .. } => None,
        }
    }
}

/// Whether an archive name stands for a path of the deployment dir (restored there by that
/// name), rather than a volume (`docker-volumes/…`) or a host path (`host-paths/…`).
pub fn names_a_deployment_path(name: &str) -> bool {
    let first = Path::new(name).components().next();
    !matches!(first, Some(Component::Normal(c)) if c == VOLUMES_DIR || c == HOST_PATHS_DIR)
}

impl DataPath {
    /// A path of the deployment dir `root` by its relative name (`data`, `mysql/data`),
    /// read where it points if it is a symlink. For `--include` and for tests.
    pub fn in_deployment(root: &Path, name: &str, part: Part) -> DataPath {
        let path = root.join(name);
        DataPath {
            name: name.to_string(),
            origin: Origin::Deployment { part },
            host: std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone()),
            path,
            through_image: None,
        }
    }

    /// Bytes of the regular files under it now; `None` for a volume read through a
    /// container (its mountpoint cannot be read here).
    pub fn bytes(&self) -> Option<u64> {
        match self.through_image {
            Some(_) => None,
            None => Some(crate::fsutil::disk_usage(&self.host)),
        }
    }

    /// Whether the compose file's path is a symlink (or lies under one): the content is
    /// read where it points.
    pub fn follows_a_link(&self) -> bool {
        self.origin.volume().is_none() && self.path != self.host
    }
}

/// A mount or path that is not backed up, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftOut {
    /// The mount as the file writes it (`redis-data:/data`), or the path given.
    pub what: String,
    /// The service that mounts it; none for `--include`.
    pub service: Option<String>,
    /// Whether that service holds data (db, web): then what is missed may matter.
    pub data_service: bool,
    /// In JSON, `reason` and its fields sit beside the others.
    #[serde(flatten)]
    pub reason: Reason,
}

/// Why a mount or path is left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Reason {
    /// A mount of the Redis service: a cache.
    Cache,
    /// A mount of the server other than `data/`: code and models.
    ServerFiles { path: PathBuf },
    /// Under `models/`: large downloads.
    Model { path: PathBuf },
    /// The path does not exist.
    Missing { path: PathBuf },
    /// The named volume does not exist (yet): the stack was never started. `image`: the
    /// service's, to write it through when this process cannot.
    VolumeMissing {
        volume: String,
        key: String,
        #[serde(skip)]
        image: Option<String>,
    },
    /// Where the named volume is could not be asked (no engine, no project).
    VolumeUnknown { key: String, why: String },
    /// The volume's content is not on this host, or not where xzup can read it.
    VolumeUnreadable { volume: String, why: String },
    /// An anonymous volume: nothing in it outlives `down`.
    Anonymous,
    /// Memory only.
    Tmpfs,
    /// Read-only, outside the deployment dir: configuration the service cannot change.
    ReadOnly { path: PathBuf },
    /// A system path (`/etc/localtime`, the Docker socket).
    System { path: PathBuf },
    /// The deployment dir itself, or a dir that holds it.
    WholeDir { path: PathBuf },
    /// Outside the deployment dir (`--include` only).
    Outside { path: PathBuf },
    /// The same place as (or a place inside) another data path.
    Within { path: PathBuf, of: String },
    /// A path that is not UTF-8: the manifest (JSON) cannot name it.
    NotUtf8 { path: PathBuf },
}

impl fmt::Display for LeftOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: not backed up", self.describe())
    }
}

/// What it is and why it is left out, without the verdict.
struct Describe<'a>(&'a LeftOut);

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let this = self.0;
        match &this.service {
            Some(service) => write!(f, "`{}` of `{service}`: ", this.what)?,
            None => write!(f, "`{}` (--include): ", this.what)?,
        }
        let show = |p: &PathBuf| p.display().to_string();
        match &this.reason {
            Reason::Cache => f.write_str("Redis keeps a cache there, not data"),
            Reason::ServerFiles { .. } => write!(
                f,
                "the server's code and files, not data (add `--include {}` to back it up)",
                this.what_path()
            ),
            Reason::Model { path } => write!(
                f,
                "model files (add `--include {}` to back them up)",
                show(path)
            ),
            Reason::Missing { path } if show(path) == this.what => f.write_str("it does not exist"),
            Reason::Missing { path } => write!(f, "`{}` does not exist", show(path)),
            Reason::VolumeMissing { volume, .. } => {
                write!(f, "volume `{volume}` does not exist (yet)")
            }
            Reason::VolumeUnknown { key, why } => {
                write!(f, "cannot tell which volume `{key}` is: {why}")
            }
            Reason::VolumeUnreadable { volume, why } => {
                write!(f, "cannot read volume `{volume}`: {why}")
            }
            Reason::Anonymous => f.write_str(
                "an anonymous volume: Compose gives a new container a new one, so nothing in it \
                 outlives `down` (name it in the file to keep its data)",
            ),
            Reason::Tmpfs => f.write_str("tmpfs, in memory only"),
            Reason::ReadOnly { .. } => f.write_str(
                "read-only and outside the deployment dir: configuration the service cannot change",
            ),
            Reason::System { .. } => f.write_str("a system path, not data"),
            Reason::WholeDir { .. } => f.write_str(
                "holds the whole deployment dir, which is not backed up as such (name parts of it with `--include`)",
            ),
            Reason::Outside { .. } => f.write_str("lies outside the deployment dir"),
            Reason::Within { of, .. } => write!(f, "already backed up as part of `{of}`"),
            Reason::NotUtf8 { .. } => f.write_str("its path is not UTF-8"),
        }
    }
}

impl LeftOut {
    /// `` `redis-data:/data` of `redis`: Redis keeps a cache there, not data ``.
    pub fn describe(&self) -> impl fmt::Display + '_ {
        Describe(self)
    }

    fn what_path(&self) -> String {
        match &self.reason {
            Reason::ServerFiles { path } => path.display().to_string(),
            _ => self.what.clone(),
        }
    }

    /// Whether data a service holds may be missed: a data service's mount that does not
    /// exist, an anonymous volume, a volume that cannot be read. Shown as a warning.
    pub fn is_warning(&self) -> bool {
        self.data_service
            && matches!(
                self.reason,
                Reason::Missing { .. }
                    | Reason::VolumeMissing { .. }
                    | Reason::VolumeUnknown { .. }
                    | Reason::VolumeUnreadable { .. }
                    | Reason::Anonymous
            )
    }

    /// Whether a backup without it would miss data that exists: a data service's volume
    /// that is there but cannot be read or found. A backup refuses.
    pub fn blocks_backup(&self) -> bool {
        self.data_service
            && matches!(
                self.reason,
                Reason::VolumeUnknown { .. } | Reason::VolumeUnreadable { .. }
            )
    }

    /// Whether an upgrade (down, then up) must not go ahead: a backup without it would miss
    /// data ([`LeftOut::blocks_backup`]); a data service's mount that does not exist (the
    /// file does not describe this deployment); or a data service's anonymous volume,
    /// which the container made after `down` would not get back — the service would
    /// start without its data.
    pub fn blocks_upgrade(&self) -> bool {
        self.blocks_backup()
            || (self.data_service
                && matches!(
                    self.reason,
                    Reason::Missing { .. } | Reason::VolumeMissing { .. } | Reason::Anonymous
                ))
    }

    /// Whether `--include` named something that cannot be backed up: the operator's own
    /// word, a usage error. (One inside another data path is backed up with it.)
    pub fn is_included(&self) -> bool {
        self.service.is_none() && !matches!(self.reason, Reason::Within { .. })
    }
}

/// The data paths of a deployment, and what is left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DataPaths {
    /// Sorted by name; no name inside another, no place inside another.
    pub paths: Vec<DataPath>,
    pub left_out: Vec<LeftOut>,
}

impl DataPaths {
    /// The data path of this name.
    pub fn get(&self, name: &str) -> Option<&DataPath> {
        self.paths.iter().find(|p| p.name == name)
    }

    /// Total bytes of the regular files under every data path whose size can be read
    /// here now (see [`DataPath::bytes`]).
    pub fn bytes(&self) -> u64 {
        self.paths.iter().filter_map(DataPath::bytes).sum()
    }
}

/// What [`resolve`] needs.
pub(crate) struct Request<'a> {
    /// The deployment (project) dir: absolute.
    pub dir: &'a Path,
    pub compose: &'a ComposeFile,
    pub roles: &'a RoleMap,
    /// `--include` paths, relative to `dir`.
    pub include: &'a [PathBuf],
    /// Where named volumes are.
    pub volumes: &'a dyn Volumes,
}

/// The services of the file that play a role, with whether each holds data. The one place
/// that decides which roles hold data: db (the datadir) and web (`uploadfile`).
pub(crate) fn services_by_role(compose: &ComposeFile, roles: &RoleMap) -> Vec<(Role, String)> {
    let present = compose.services();
    roles
        .iter()
        .filter(|(_, service)| present.iter().any(|s| s == service))
        .map(|(role, service)| (role, service.to_string()))
        .collect()
}

/// Whether the service playing `role` holds data the backup keeps.
pub(crate) fn holds_data(role: Role) -> bool {
    matches!(role, Role::Db | Role::Web)
}

/// The data paths of the deployment (see the module doc); reads the file system and,
/// for named volumes, asks `request.volumes`. Fails only on a file Compose would refuse
/// (an unset `${VAR:?…}`).
pub(crate) fn resolve(request: &Request<'_>) -> Result<DataPaths, ComposeError> {
    let dir = request.dir;
    let env = Env::load(dir).map_err(|source| ComposeError::Read {
        path: dir.join(crate::compose::env::DOT_ENV),
        source,
    })?;
    let included: Vec<PathBuf> = request
        .include
        .iter()
        .filter_map(|p| inside(dir, &lexical(&dir.join(p))))
        .collect();
    let mut found = Found::default();
    for (role, service) in services_by_role(request.compose, request.roles) {
        for mount in request.compose.mounts(&service, &env, dir)? {
            found.mount(request, role, &mount, &included);
        }
    }
    if exists(&dir.join(SERVER_DATA)) {
        found.add(DataPath::in_deployment(
            dir,
            SERVER_DATA,
            Part::ServerConfig,
        ));
    }
    for name in compose_files(dir) {
        found.add(DataPath::in_deployment(dir, &name, Part::ComposeFile));
    }
    if let Some(name) = inside(dir, &request.compose.path).and_then(|p| utf8(&p))
        && !name.is_empty()
        && exists(&request.compose.path)
    {
        found.add(DataPath::in_deployment(dir, &name, Part::ComposeFile));
    }
    if exists(&dir.join(crate::compose::env::DOT_ENV)) {
        found.add(DataPath::in_deployment(
            dir,
            crate::compose::env::DOT_ENV,
            Part::EnvFile,
        ));
    }
    if exists(&dir.join(crate::deployment::CONFIG_FILE)) {
        found.add(DataPath::in_deployment(
            dir,
            crate::deployment::CONFIG_FILE,
            Part::XzupConfig,
        ));
    }
    for path in request.include {
        found.include(dir, path);
    }
    Ok(found.finish())
}

/// What the walk over the mounts found, before nesting is sorted out.
#[derive(Default)]
struct Found {
    paths: Vec<DataPath>,
    left_out: Vec<LeftOut>,
}

impl Found {
    fn add(&mut self, path: DataPath) {
        self.paths.push(path);
    }

    fn leave(&mut self, mount: &Mount, role: Role, reason: Reason) {
        self.left_out.push(LeftOut {
            what: mount.written.clone(),
            service: Some(mount.service.clone()),
            data_service: holds_data(role),
            reason,
        });
    }

    fn mount(&mut self, request: &Request<'_>, role: Role, mount: &Mount, included: &[PathBuf]) {
        let dir = request.dir;
        match &mount.kind {
            MountKind::Bind { source, relative } => {
                let rel = inside(dir, source);
                if rel.as_deref() == Some(Path::new(SERVER_DATA)) && role == Role::Server {
                    // Backed up as the server's config whoever mounts it.
                    return;
                }
                if let Some(rel) = &rel
                    && rel.starts_with(MODELS)
                    && !included.iter().any(|i| rel.starts_with(i))
                {
                    return self.leave(mount, role, Reason::Model { path: rel.clone() });
                }
                match role {
                    Role::Redis => return self.leave(mount, role, Reason::Cache),
                    Role::Server => {
                        let path = rel.clone().unwrap_or_else(|| source.clone());
                        return self.leave(mount, role, Reason::ServerFiles { path });
                    }
                    Role::Db | Role::Web => {}
                }
                if dir.starts_with(source) {
                    let reason = Reason::WholeDir {
                        path: source.clone(),
                    };
                    return self.leave(mount, role, reason);
                }
                if is_system_path(source) {
                    let path = source.clone();
                    return self.leave(mount, role, Reason::System { path });
                }
                let Ok(host) = std::fs::canonicalize(source) else {
                    let reason = Reason::Missing {
                        path: rel.unwrap_or_else(|| source.clone()),
                    };
                    return self.leave(mount, role, reason);
                };
                if is_system_path(&host) {
                    let path = source.clone();
                    return self.leave(mount, role, Reason::System { path });
                }
                // Lexically inside, or inside once the links are followed.
                let rel = rel.or_else(|| {
                    std::fs::canonicalize(dir)
                        .ok()
                        .and_then(|d| host.strip_prefix(d).ok().map(Path::to_path_buf))
                });
                let name = match &rel {
                    Some(rel) => utf8(rel),
                    None if mount.read_only => {
                        let path = source.clone();
                        return self.leave(mount, role, Reason::ReadOnly { path });
                    }
                    None => utf8(source).map(|s| format!("{HOST_PATHS_DIR}{s}")),
                };
                let Some(name) = name else {
                    let path = source.clone();
                    return self.leave(mount, role, Reason::NotUtf8 { path });
                };
                let (service, target) = (mount.service.clone(), mount.target.clone());
                let source_text = mount.source.clone();
                let origin = if *relative {
                    Origin::BindRelative {
                        service,
                        target,
                        source: source_text,
                    }
                } else {
                    Origin::BindAbsolute {
                        service,
                        target,
                        source: source_text,
                    }
                };
                self.add(DataPath {
                    name,
                    origin,
                    path: source.clone(),
                    host,
                    through_image: None,
                });
            }
            MountKind::Volume { key, volume } => {
                if role == Role::Redis {
                    return self.leave(mount, role, Reason::Cache);
                }
                if role == Role::Server {
                    let reason = Reason::ServerFiles {
                        path: PathBuf::from(key),
                    };
                    return self.leave(mount, role, reason);
                }
                let image = request.compose.images().remove(&mount.service);
                let info = match request.volumes.find(key, volume) {
                    Ok(Some(info)) => info,
                    Ok(None) => {
                        let reason = Reason::VolumeMissing {
                            volume: request.volumes.expected_name(key, volume),
                            key: key.clone(),
                            image,
                        };
                        return self.leave(mount, role, reason);
                    }
                    Err(why) => {
                        let reason = Reason::VolumeUnknown {
                            key: key.clone(),
                            why,
                        };
                        return self.leave(mount, role, reason);
                    }
                };
                // What the host cannot read, a container of the service's image can.
                let through_image = match volumes::readable(&info) {
                    Ok(()) => None,
                    Err(why) => match image {
                        Some(image) => {
                            log::debug!(
                                "volume `{}`: {why}; through a container of `{image}`",
                                info.name
                            );
                            Some(image)
                        }
                        None => {
                            let reason = Reason::VolumeUnreadable {
                                volume: info.name.clone(),
                                why,
                            };
                            return self.leave(mount, role, reason);
                        }
                    },
                };
                self.add(DataPath {
                    name: format!("{VOLUMES_DIR}/{}", info.name),
                    origin: Origin::Volume {
                        service: mount.service.clone(),
                        target: mount.target.clone(),
                        key: key.clone(),
                        volume: info.name.clone(),
                    },
                    path: info.mountpoint.clone(),
                    host: info.mountpoint,
                    through_image,
                });
            }
            MountKind::Anonymous => {
                if holds_data(role) {
                    self.leave(mount, role, Reason::Anonymous);
                }
            }
            MountKind::Tmpfs => self.leave(mount, role, Reason::Tmpfs),
        }
    }

    fn include(&mut self, dir: &Path, path: &Path) {
        let leave = |reason| LeftOut {
            what: path.display().to_string(),
            service: None,
            data_service: false,
            reason,
        };
        let lexical_path = lexical(&dir.join(path));
        match inside(dir, &lexical_path) {
            None => self.left_out.push(leave(Reason::Outside {
                path: path.to_path_buf(),
            })),
            Some(rel) if rel.as_os_str().is_empty() => {
                self.left_out.push(leave(Reason::WholeDir {
                    path: path.to_path_buf(),
                }))
            }
            Some(rel) if !exists(&lexical_path) => {
                self.left_out.push(leave(Reason::Missing { path: rel }))
            }
            Some(rel) => match utf8(&rel) {
                Some(name) => self.add(DataPath::in_deployment(dir, &name, Part::Included)),
                None => self.left_out.push(leave(Reason::NotUtf8 { path: rel })),
            },
        }
    }

    /// Sorted by name. A name inside another's is dropped (the archive has it already);
    /// a place on the host inside another's (a symlink into another data path) is left
    /// out, saying so; the same name twice is kept once, the first found.
    fn finish(mut self) -> DataPaths {
        self.paths.sort_by(|a, b| a.name.cmp(&b.name));
        self.paths.dedup_by(|b, a| a.name == b.name);
        let mut by_name: Vec<DataPath> = Vec::with_capacity(self.paths.len());
        for path in self.paths {
            match by_name
                .iter()
                .find(|k| Path::new(&path.name).starts_with(&k.name))
            {
                Some(k) => self.left_out.push(within(&path, k)),
                None => by_name.push(path),
            }
        }
        // Parents sort before their children.
        by_name.sort_by(|a, b| a.host.cmp(&b.host));
        let mut kept: Vec<DataPath> = Vec::with_capacity(by_name.len());
        for path in by_name {
            match kept.iter().find(|k| path.host.starts_with(&k.host)) {
                Some(k) => self.left_out.push(within(&path, k)),
                None => kept.push(path),
            }
        }
        kept.sort_by(|a, b| a.name.cmp(&b.name));
        DataPaths {
            paths: kept,
            left_out: self.left_out,
        }
    }
}

/// `path` left out: the archive has it as part of `holder`.
fn within(path: &DataPath, holder: &DataPath) -> LeftOut {
    LeftOut {
        what: path.name.clone(),
        service: path.origin.service().map(str::to_string),
        data_service: path.origin.service().is_some(),
        reason: Reason::Within {
            path: path.host.clone(),
            of: holder.name.clone(),
        },
    }
}

/// System paths, never data of the stack: `/etc/localtime`, the Docker socket, `/proc`…
fn is_system_path(path: &Path) -> bool {
    const SYSTEM: [&str; 16] = [
        "/etc",
        "/usr",
        "/bin",
        "/sbin",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/boot",
        "/dev",
        "/proc",
        "/sys",
        "/run",
        "/var/run",
        "/var/lib/docker",
        "/var/log",
    ];
    path == Path::new("/") || SYSTEM.iter().any(|s| path.starts_with(s))
}

/// Compose files at the top of the deployment dir: `docker-compose*.yml`, `compose*.yml`
/// (and `.yaml`), including the tier files xzup renders beside the source.
fn compose_files(root: &Path) -> Vec<String> {
    let Ok(read) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut files: Vec<String> = read
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| {
            (name.starts_with("docker-compose") || name.starts_with("compose"))
                && (name.ends_with(".yml") || name.ends_with(".yaml"))
        })
        .collect();
    files.sort();
    files
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

fn utf8(path: &Path) -> Option<String> {
    path.to_str().map(str::to_string)
}

/// `path` relative to `root` when it lies inside it lexically (both absolute, `.`/`..`
/// resolved); an empty path for the root itself.
fn inside(root: &Path, path: &Path) -> Option<PathBuf> {
    lexical(path)
        .strip_prefix(lexical(root))
        .ok()
        .map(Path::to_path_buf)
}

/// Resolves `.` and `..` without touching the file system.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests;
