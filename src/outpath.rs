//! Where xzup writes what the operator names on the command line: `render -o FILE`,
//! `--backup-dir DIR`, `backup --out FILE`.
//!
//! Every such path is resolved once, the same way ([`resolve`]): relative to the current
//! directory, as every command-line tool does; `..` and the symlinks of the part that
//! exists resolved before any check, so `d/../d/docker-compose.yml` or
//! `backups/../mysql/data` is the place it names. Then it is checked against what must never
//! be written over ([`Protected`]: the data paths of the deployment, its compose files, xzup's
//! state dir) and against what stands there now: `-o` writes a regular file, never a
//! directory, device, FIFO or socket, or a symlink to one. Nothing here writes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use crate::datapath::{DataPaths, Origin, Part};

/// Why an output path is refused. Each names the option, so the hint can say what to pass.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("`{option} {}`: {} is {what}, not a regular file", arg.display(), path.display())]
    NotAFile {
        option: &'static str,
        arg: PathBuf,
        path: PathBuf,
        what: &'static str,
    },
    #[error("`{option} {}`: {} is {what}, not a directory", arg.display(), path.display())]
    NotADir {
        option: &'static str,
        arg: PathBuf,
        path: PathBuf,
        what: &'static str,
    },
    #[error("`{option} {}` is the source compose file {}", arg.display(), source_file.display())]
    Source {
        option: &'static str,
        arg: PathBuf,
        source_file: PathBuf,
    },
    #[error("`{option} {}`: {} is {}{holder} ({})", arg.display(), path.display(), if *equal { "" } else { "inside " }, holder_path.display())]
    Protected {
        option: &'static str,
        arg: PathBuf,
        path: PathBuf,
        holder: String,
        holder_path: PathBuf,
        equal: bool,
    },
    #[error("`{option} {}` names no file", arg.display())]
    NoFileName { option: &'static str, arg: PathBuf },
    #[error("cannot resolve `{}`: {source}", arg.display())]
    Io {
        arg: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl OutputError {
    /// What to pass instead.
    pub fn hint(&self) -> Option<String> {
        let option = match self {
            OutputError::NotAFile { option, .. }
            | OutputError::NotADir { option, .. }
            | OutputError::Source { option, .. }
            | OutputError::Protected { option, .. }
            | OutputError::NoFileName { option, .. } => *option,
            OutputError::Io { .. } => return None,
        };
        Some(match option {
            "-o" => {
                "`-o` writes a regular file: pass a new path, or a compose file other than the \
                     source, outside the data paths (`xzup plan` lists them); without `-o` the \
                     file is printed on stdout (secrets masked). Nothing was changed"
                    .into()
            }
            "--backup-dir" => "put archives in a directory of their own outside the data paths \
                               and compose files (the default is DIR/backups). Nothing was changed"
                .into(),
            _ => format!(
                "pass `{option}` a new file outside the data paths and compose files (`xzup plan` \
                 lists them). Nothing was changed"
            ),
        })
    }
}

/// `path` as the place it names: absolute against the current directory, `.` and `..`
/// resolved, every symlink of the part that exists followed (a dangling one, and what does
/// not exist yet, taken as written). `..` after a part that does not exist is resolved
/// lexically, which is where the write lands once the missing directories are created.
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    resolve_with(path, true)
}

/// Like [`resolve`], but the last component is kept as it is (not followed when a symlink):
/// the directory entry a rename would replace.
pub fn resolve_entry(path: &Path) -> io::Result<PathBuf> {
    resolve_with(path, false)
}

fn resolve_with(path: &Path, follow_last: bool) -> io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let components: Vec<Component> = absolute.components().collect();
    let mut out = PathBuf::new();
    let mut exists = true;
    for (i, component) in components.iter().enumerate() {
        match component {
            Component::Prefix(_) | Component::RootDir => out.push(component),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => {
                out.push(name);
                let last = i + 1 == components.len();
                if !exists || (last && !follow_last) {
                    continue;
                }
                match fs::symlink_metadata(&out) {
                    Ok(meta) if meta.file_type().is_symlink() => match fs::canonicalize(&out) {
                        Ok(real) => out = real,
                        Err(_) => exists = false,
                    },
                    Ok(_) => {}
                    Err(_) => exists = false,
                }
            }
        }
    }
    Ok(out)
}

/// What an output must never land in or replace: the deployment's data paths (with
/// symlinks followed, as Docker mounts them), its compose files, xzup's state dir.
#[derive(Debug, Clone)]
pub struct Protected {
    places: Vec<Place>,
}

#[derive(Debug, Clone)]
struct Place {
    /// `the data path `mysql/data``
    label: String,
    /// Resolved ([`resolve`]).
    path: PathBuf,
    compose_file: bool,
}

impl Protected {
    /// The data paths of a deployment, and its state dir `state_dir`.
    pub fn new(data: &DataPaths, state_dir: &Path) -> Protected {
        let mut places = Vec::new();
        for p in &data.paths {
            let compose_file = matches!(
                p.origin,
                Origin::Deployment {
                    part: Part::ComposeFile
                }
            );
            let label = if compose_file {
                format!("the compose file `{}`", p.name)
            } else {
                format!("the data path `{}`", p.name)
            };
            for path in [&p.path, &p.host] {
                let path = resolve(path).unwrap_or_else(|_| path.clone());
                if !places.iter().any(|q: &Place| q.path == path) {
                    places.push(Place {
                        label: label.clone(),
                        path,
                        compose_file,
                    });
                }
            }
        }
        places.push(Place {
            label: "xzup's state dir".into(),
            path: resolve(state_dir).unwrap_or_else(|_| state_dir.to_path_buf()),
            compose_file: false,
        });
        Protected { places }
    }

    /// The protected place `path` (resolved) is or lies in; compose files are passed over
    /// when `compose_files` is false (a rendered file may replace one that is not the
    /// source: it is quarantined first).
    fn holder(&self, path: &Path, compose_files: bool) -> Option<&Place> {
        self.places
            .iter()
            .filter(|p| compose_files || !p.compose_file)
            .find(|p| path.starts_with(&p.path))
    }

    fn refuse(
        &self,
        option: &'static str,
        arg: &Path,
        path: &Path,
        compose_files: bool,
    ) -> Result<(), OutputError> {
        match self.holder(path, compose_files) {
            Some(place) => Err(OutputError::Protected {
                option,
                arg: arg.to_path_buf(),
                path: path.to_path_buf(),
                holder: place.label.clone(),
                holder_path: place.path.clone(),
                equal: place.path == path,
            }),
            None => Ok(()),
        }
    }
}

/// A checked output file: where to write it, and the regular file that stands there now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// The directory entry to write (its directory resolved, the name as given).
    pub path: PathBuf,
    /// The regular file it names now (symlinks followed), if any.
    pub existing: Option<PathBuf>,
}

impl OutputFile {
    /// The existing file's bytes, opened so that nothing can hang or redirect the read:
    /// `O_NOFOLLOW | O_NONBLOCK`, and checked to be a regular file once open.
    pub fn read_existing(&self) -> io::Result<Option<Vec<u8>>> {
        let Some(existing) = &self.existing else {
            return Ok(None);
        };
        let mut file: File = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(existing)?;
        if !file.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is no longer a regular file", existing.display()),
            ));
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(Some(bytes))
    }
}

/// Checks `arg` (`-o FILE`, `--out FILE`) as a file to write: not the source compose file
/// `source` (by resolved path and by device and inode, so a hard link is caught too), not
/// in a protected place, and when something stands there, a regular file (a symlink to
/// one counts; its target is checked too).
pub fn check_file(
    option: &'static str,
    arg: &Path,
    source: &Path,
    protected: &Protected,
) -> Result<OutputFile, OutputError> {
    let io_err = |source| OutputError::Io {
        arg: arg.to_path_buf(),
        source,
    };
    let entry = resolve_entry(arg).map_err(io_err)?;
    if entry.file_name().is_none() || arg.as_os_str().to_string_lossy().ends_with('/') {
        return Err(OutputError::NoFileName {
            option,
            arg: arg.to_path_buf(),
        });
    }
    let target = resolve(arg).map_err(io_err)?;
    let not_a_file = |path: &Path, what| OutputError::NotAFile {
        option,
        arg: arg.to_path_buf(),
        path: path.to_path_buf(),
        what,
    };
    let existing = match fs::symlink_metadata(&entry) {
        Err(_) => None,
        Ok(meta) => {
            let link = meta.file_type().is_symlink();
            match fs::metadata(&entry) {
                Ok(meta) if meta.is_file() => Some((target.clone(), meta)),
                Ok(meta) if link => return Err(not_a_file(&entry, kind_behind_link(&meta))),
                Ok(meta) => return Err(not_a_file(&entry, kind(&meta))),
                // A dangling symlink: the link is moved aside, a file written in its place.
                Err(_) => None,
            }
        }
    };
    let source_is = |path: &Path, meta: Option<&fs::Metadata>| {
        let canonical = fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
        if path == canonical || path == source {
            return true;
        }
        match (meta, fs::metadata(source)) {
            (Some(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    };
    if source_is(&entry, None) || source_is(&target, existing.as_ref().map(|(_, m)| m)) {
        return Err(OutputError::Source {
            option,
            arg: arg.to_path_buf(),
            source_file: source.to_path_buf(),
        });
    }
    for path in [&entry, &target] {
        protected.refuse(option, arg, path, false)?;
    }
    Ok(OutputFile {
        path: entry,
        existing: existing.map(|(p, _)| p),
    })
}

/// Checks `arg` (`--backup-dir DIR`) as a directory for archives: resolved, not equal to or
/// inside any protected place (compose files included), and a directory when it exists.
/// Returns the resolved path.
pub fn check_dir(
    option: &'static str,
    arg: &Path,
    protected: &Protected,
) -> Result<PathBuf, OutputError> {
    let path = resolve(arg).map_err(|source| OutputError::Io {
        arg: arg.to_path_buf(),
        source,
    })?;
    protected.refuse(option, arg, &path, true)?;
    if let Ok(meta) = fs::metadata(&path)
        && !meta.is_dir()
    {
        return Err(OutputError::NotADir {
            option,
            arg: arg.to_path_buf(),
            what: kind(&meta),
            path,
        });
    }
    Ok(path)
}

/// Checks an archive to write (`backup --out FILE`): a new path, not in a protected place.
pub fn check_archive(
    option: &'static str,
    arg: &Path,
    protected: &Protected,
) -> Result<PathBuf, OutputError> {
    let path = resolve_entry(arg).map_err(|source| OutputError::Io {
        arg: arg.to_path_buf(),
        source,
    })?;
    protected.refuse(option, arg, &path, true)?;
    if let Ok(target) = resolve(arg) {
        protected.refuse(option, arg, &target, true)?;
    }
    Ok(path)
}

/// `a directory`, `a FIFO (named pipe)`…
fn kind(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

fn kind_behind_link(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "a symlink to a directory"
    } else if t.is_fifo() {
        "a symlink to a FIFO (named pipe)"
    } else if t.is_socket() {
        "a symlink to a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a symlink to a device"
    } else {
        "a symlink to something that is not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_follows_existing_links_and_dotdot() {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        fs::create_dir_all(root.join("d/real")).unwrap();
        std::os::unix::fs::symlink(root.join("d/real"), root.join("link")).unwrap();
        assert_eq!(
            resolve(&root.join("d/../d/x.yml")).unwrap(),
            root.join("d/x.yml")
        );
        assert_eq!(
            resolve(&root.join("link/a")).unwrap(),
            root.join("d/real/a")
        );
        // `..` after a symlink is the kernel's: the parent of where it points.
        assert_eq!(resolve(&root.join("link/../b")).unwrap(), root.join("d/b"));
        assert_eq!(
            resolve(&root.join("missing/../d/y")).unwrap(),
            root.join("d/y")
        );
        assert_eq!(
            resolve_entry(&root.join("link")).unwrap(),
            root.join("link")
        );
    }
}
