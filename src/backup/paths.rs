//! Which paths a deployment's backup holds: the bind mounts of the db and web services
//! (`mysql/data` and `uploadfile` upstream — read from the compose file, not assumed),
//! `data/` (the server's config), the compose file(s), and whatever `--include` adds. Large
//! model files (`models/`) stay out unless included: they are read-only downloads, and
//! they would double the backup's time. Only paths that exist inside the deployment dir
//! are kept; the rest become notes the caller can show.

use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::compose::{BindMount, ComposeFile};
use crate::roles::{Role, RoleMap};

/// The server's config dir, always backed up when present.
const SERVER_DATA: &str = "data";

/// Where the model files live.
const MODELS: &str = "models";

/// The paths to back up, and what was left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PathSelection {
    /// Relative to the deployment dir, sorted, none inside another.
    pub paths: Vec<PathBuf>,
    pub notes: Vec<PathNote>,
}

/// A candidate path that is not backed up, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PathNote {
    /// A bind mount or an included path outside the deployment dir.
    Outside { origin: String, path: PathBuf },
    /// A bind mount or an included path that does not exist.
    Missing { origin: String, path: PathBuf },
    /// A bind mount under `models/`; `--include` it to back it up.
    Model { origin: String, path: PathBuf },
    /// A bind mount of the whole deployment dir, which is not backed up as a whole.
    WholeDir { origin: String },
}

impl std::fmt::Display for PathNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathNote::Outside { origin, path } => write!(
                f,
                "`{}` ({origin}) lies outside the deployment dir: not backed up",
                path.display()
            ),
            PathNote::Missing { origin, path } => {
                write!(
                    f,
                    "`{}` ({origin}) does not exist: not backed up",
                    path.display()
                )
            }
            PathNote::Model { origin, path } => write!(
                f,
                "`{}` ({origin}) holds model files: left out (add `--include {}` to back it up)",
                path.display(),
                path.display()
            ),
            PathNote::WholeDir { origin } => write!(
                f,
                "the whole deployment dir ({origin}) is not backed up as such: name parts of it with `--include`"
            ),
        }
    }
}

/// The paths to back up for this deployment (see the module doc), relative to `root`.
pub fn default_paths(
    compose: &ComposeFile,
    roles: &RoleMap,
    root: &Path,
    include: &[PathBuf],
) -> Vec<PathBuf> {
    default_selection(compose, roles, root, include).paths
}

/// [`default_paths`] with the notes on what was left out.
pub fn default_selection(
    compose: &ComposeFile,
    roles: &RoleMap,
    root: &Path,
    include: &[PathBuf],
) -> PathSelection {
    // A role not in the deployment has no data here; `data/` and the compose files are
    // kept all the same.
    let mounts: Vec<BindMount> = [Role::Db, Role::Web]
        .iter()
        .filter_map(|role| roles.service(*role))
        .flat_map(|service| compose.bind_mounts(service))
        .collect();
    select_paths(&mounts, Some(&compose.path), root, include)
}

/// The selection from bind mounts already read (the part of [`default_selection`] that
/// does not need the compose parser).
pub fn select_paths(
    mounts: &[BindMount],
    compose_file: Option<&Path>,
    root: &Path,
    include: &[PathBuf],
) -> PathSelection {
    let mut selection = PathSelection::default();
    let mut candidates: Vec<PathBuf> = Vec::new();
    let included: Vec<PathBuf> = include
        .iter()
        .filter_map(|p| relative_inside(root, &root.join(p)))
        .collect();

    for mount in mounts {
        let origin = format!("bind mount of `{}`", mount.service);
        let Some(rel) = relative_inside(root, &mount.source) else {
            selection.notes.push(PathNote::Outside {
                origin,
                path: mount.source.clone(),
            });
            continue;
        };
        if rel.as_os_str().is_empty() {
            selection.notes.push(PathNote::WholeDir { origin });
            continue;
        }
        if rel.starts_with(MODELS) && !included.iter().any(|i| rel.starts_with(i)) {
            selection.notes.push(PathNote::Model { origin, path: rel });
            continue;
        }
        if !exists(&root.join(&rel)) {
            selection
                .notes
                .push(PathNote::Missing { origin, path: rel });
            continue;
        }
        candidates.push(rel);
    }
    if exists(&root.join(SERVER_DATA)) {
        candidates.push(PathBuf::from(SERVER_DATA));
    }
    candidates.extend(compose_files(root));
    if let Some(rel) = compose_file.and_then(|f| relative_inside(root, f))
        && !rel.as_os_str().is_empty()
        && exists(&root.join(&rel))
    {
        candidates.push(rel);
    }
    for path in include {
        let origin = "--include".to_string();
        match relative_inside(root, &root.join(path)) {
            None => selection.notes.push(PathNote::Outside {
                origin,
                path: path.clone(),
            }),
            Some(rel) if rel.as_os_str().is_empty() => {
                selection.notes.push(PathNote::WholeDir { origin })
            }
            Some(rel) if !exists(&root.join(&rel)) => selection.notes.push(PathNote::Missing {
                origin,
                path: path.clone(),
            }),
            Some(rel) => candidates.push(rel),
        }
    }
    candidates.sort();
    candidates.dedup();
    for c in candidates {
        if !selection.paths.iter().any(|p| c.starts_with(p)) {
            selection.paths.push(c);
        }
    }
    selection
}

/// Compose files at the top of the deployment dir: `docker-compose*.yml`, `compose*.yml`
/// (and `.yaml`), including the tier files xzup renders beside the source.
fn compose_files(root: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = read
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| {
            (name.starts_with("docker-compose") || name.starts_with("compose"))
                && (name.ends_with(".yml") || name.ends_with(".yaml"))
        })
        .map(PathBuf::from)
        .collect();
    files.sort();
    files
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// `path` relative to `root` when it lies inside it (lexically, then through symlinks);
/// an empty path for the root itself.
fn relative_inside(root: &Path, path: &Path) -> Option<PathBuf> {
    let (root_n, path_n) = (normalise(root), normalise(path));
    if let Ok(rel) = path_n.strip_prefix(&root_n) {
        return Some(rel.to_path_buf());
    }
    let (root_c, path_c) = (
        std::fs::canonicalize(root).ok()?,
        std::fs::canonicalize(path).ok()?,
    );
    path_c.strip_prefix(root_c).ok().map(Path::to_path_buf)
}

/// Resolves `.` and `..` without touching the file system.
fn normalise(path: &Path) -> PathBuf {
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
mod tests {
    use std::fs;

    use super::*;

    fn mount(service: &str, source: PathBuf) -> BindMount {
        BindMount {
            service: service.into(),
            source,
            target: "/x".into(),
            read_only: false,
        }
    }

    #[test]
    fn upstream_layout() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["mysql/data", "uploadfile", "data", "models/SenseVoiceSmall"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::write(root.join("models/SenseVoiceSmall/model.pt"), "m").unwrap();
        for f in [
            "docker-compose_all.yml",
            "docker-compose-high.yml",
            "notes.yml",
            "compose.yaml",
        ] {
            fs::write(root.join(f), "x").unwrap();
        }
        let mounts = [
            mount("db", root.join("./mysql/data")),
            mount("web", root.join("uploadfile")),
            mount("web", root.join("models/SenseVoiceSmall/model.pt")),
            mount("db", PathBuf::from("/etc/localtime")),
            mount("web", root.join("logs")),
            mount("web", root.join("sub/..")),
        ];
        let sel = select_paths(
            &mounts,
            Some(&root.join("docker-compose_all.yml")),
            root,
            &[],
        );
        let paths: Vec<_> = sel.paths.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "compose.yaml",
                "data",
                "docker-compose-high.yml",
                "docker-compose_all.yml",
                "mysql/data",
                "uploadfile"
            ]
        );
        assert_eq!(
            sel.notes,
            [
                PathNote::Model {
                    origin: "bind mount of `web`".into(),
                    path: "models/SenseVoiceSmall/model.pt".into()
                },
                PathNote::Outside {
                    origin: "bind mount of `db`".into(),
                    path: "/etc/localtime".into()
                },
                PathNote::Missing {
                    origin: "bind mount of `web`".into(),
                    path: "logs".into()
                },
                PathNote::WholeDir {
                    origin: "bind mount of `web`".into()
                },
            ]
        );
    }

    #[test]
    fn include_adds_models_and_nested_paths_collapse() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("models/a")).unwrap();
        fs::create_dir_all(root.join("data/sub")).unwrap();
        let mounts = [mount("web", root.join("models/a"))];
        let sel = select_paths(
            &mounts,
            None,
            root,
            &[
                "models".into(),
                "data/sub".into(),
                "nope".into(),
                "../x".into(),
            ],
        );
        let paths: Vec<_> = sel.paths.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(paths, ["data", "models"]);
        let missing: Vec<_> = sel.notes.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            missing,
            [
                "`nope` (--include) does not exist: not backed up",
                "`../x` (--include) lies outside the deployment dir: not backed up"
            ]
        );
    }
}
