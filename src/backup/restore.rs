//! Restoring an archive into a deployment dir without deleting anything.
//!
//! 1. The manifest is read and checked (unsafe paths refused), and so is the target: each
//!    backed-up path must be reachable by a rename from the staging dir (same file system,
//!    not a mount point).
//! 2. Every member is extracted into `<to>/.xzup-restore-<stamp>/` while being checked against
//!    the manifest; a refusal, a mismatch or a truncation stops there, the staging dir is
//!    removed (it holds only what this restore wrote) and the target is untouched.
//! 3. The staged data is synced to disk, then each backed-up path is swapped in by rename;
//!    what stood there goes to `<path>.xzup-quarantine-<stamp>`. A failed swap puts back the
//!    paths already swapped.
//!
//! As root, owners are restored too; otherwise files belong to whoever runs the restore.

use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::manifest::{Entry, EntryKind, Manifest};
use super::verify::{self, Sink};
use super::{BackupError, Phase, ProgressSink, sys};
use crate::fsutil;

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub archive: PathBuf,
    pub target: PathBuf,
    /// The paths restored, relative to the target.
    pub restored: Vec<String>,
    /// What stood at those paths, and where it went.
    pub quarantined: Vec<Quarantined>,
    pub files: usize,
    pub dirs: usize,
    pub symlinks: usize,
    pub data_bytes: u64,
    /// Owners restored (only when running as root).
    pub ownership_restored: bool,
    /// The staging dir, when something was left in it (it is normally removed).
    pub leftover: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quarantined {
    pub path: PathBuf,
    pub moved_to: PathBuf,
}

/// Restores `archive` into `to` (created when missing); what stood in the way is moved to
/// `<path>.xzup-quarantine-<stamp>`. See the module doc for the steps.
pub fn restore(
    archive: &Path,
    to: &Path,
    stamp: &str,
    progress: &mut dyn ProgressSink,
) -> Result<RestoreReport, BackupError> {
    let to = std::path::absolute(to).map_err(|e| BackupError::io("resolve", to, e))?;
    let created_to = !to.exists();
    if created_to {
        fs::create_dir_all(&to).map_err(|e| BackupError::io("create", &to, e))?;
    }
    let staging = unique_path(&to.join(format!(".xzup-restore-{stamp}")), |p| {
        fs::DirBuilder::new().mode(0o700).create(p)
    })
    .map_err(|e| BackupError::io("create a staging directory in", &to, e))?;

    let as_root = sys::euid() == 0;
    let mut extractor = Extractor {
        staging: staging.clone(),
        as_root,
        file: None,
        dirs: Vec::new(),
    };
    let extracted = verify::read_archive(archive, &mut extractor, progress, Phase::Restore, |m| {
        check_target(&to, &staging, m)
    })
    .and_then(|manifest| {
        extractor.finish_dirs(&manifest.roots)?;
        sys::syncfs(&staging).map_err(|e| BackupError::io("sync", &staging, e))?;
        Ok(manifest)
    });
    let manifest = match extracted {
        Ok(manifest) => manifest,
        Err(e) => {
            drop(extractor);
            // Only what this restore wrote: the target is untouched.
            let _ = fs::remove_dir_all(&staging);
            if created_to {
                let _ = fs::remove_dir(&to);
            }
            return Err(e);
        }
    };

    let quarantined = swap_in(&to, &staging, &manifest, stamp)?;
    for root in &manifest.roots {
        let entry = manifest
            .entries
            .iter()
            .find(|e| &e.path == root)
            .expect("checked: every root has an entry");
        if entry.kind == EntryKind::Dir {
            apply_dir_meta(&to.join(root), entry, as_root)?;
        }
    }
    remove_empty_dirs(&staging);
    let leftover = staging.exists().then_some(staging);
    let (files, dirs, symlinks) = manifest.counts();
    Ok(RestoreReport {
        archive: archive.to_path_buf(),
        target: to,
        restored: manifest.roots.clone(),
        quarantined,
        files,
        dirs,
        symlinks,
        data_bytes: manifest.data_bytes,
        ownership_restored: as_root,
        leftover,
    })
}

/// Checks, before extracting, that each backed-up path can be renamed into place.
fn check_target(to: &Path, staging: &Path, manifest: &Manifest) -> Result<(), BackupError> {
    let staging_dev = fs::metadata(staging)
        .map_err(|e| BackupError::io("read", staging, e))?
        .dev();
    for root in &manifest.roots {
        let refuse = |reason: String| BackupError::Target {
            target: to.to_path_buf(),
            root: root.clone(),
            reason,
        };
        let dest = to.join(root);
        let parent = fsutil::parent_dir(&dest);
        // The nearest existing directory on the way (created below it at swap time).
        let mut existing = parent;
        while !existing.exists() {
            existing = existing.parent().unwrap_or(to);
        }
        let meta = fs::metadata(existing).map_err(|e| BackupError::io("read", existing, e))?;
        if !meta.is_dir() {
            return Err(refuse(format!(
                "`{}` is not a directory",
                existing.display()
            )));
        }
        if meta.dev() != staging_dev {
            return Err(refuse(format!(
                "`{}` is on another file system than `{}`, so it cannot be renamed into place",
                existing.display(),
                to.display()
            )));
        }
        if let Ok(old) = fs::symlink_metadata(&dest)
            && old.is_dir()
            && old.dev() != meta.dev()
        {
            return Err(refuse(format!(
                "`{}` is a mount point, which cannot be moved aside",
                dest.display()
            )));
        }
    }
    Ok(())
}

/// Swaps each staged root into place, quarantining what stood there; on failure, puts
/// back what was already swapped.
fn swap_in(
    to: &Path,
    staging: &Path,
    manifest: &Manifest,
    stamp: &str,
) -> Result<Vec<Quarantined>, BackupError> {
    let mut done: Vec<(&str, Option<PathBuf>)> = Vec::new();
    let mut quarantined = Vec::new();
    for root in &manifest.roots {
        let dest = to.join(root);
        let staged = staging.join(root);
        let swapped = (|| -> io::Result<Option<PathBuf>> {
            let parent = fsutil::parent_dir(&dest);
            fs::create_dir_all(parent)?;
            let moved = if fs::symlink_metadata(&dest).is_ok() {
                let base = PathBuf::from(format!("{}.xzup-quarantine-{stamp}", dest.display()));
                Some(unique_path(&base, |q| sys::rename_noreplace(&dest, q))?)
            } else {
                None
            };
            if let Err(e) = sys::rename_noreplace(&staged, &dest) {
                if let Some(q) = &moved {
                    let _ = sys::rename_noreplace(q, &dest);
                }
                return Err(e);
            }
            fsutil::sync_dir(parent)?;
            Ok(moved)
        })();
        match swapped {
            Ok(moved) => {
                if let Some(q) = &moved {
                    quarantined.push(Quarantined {
                        path: dest.clone(),
                        moved_to: q.clone(),
                    });
                }
                done.push((root, moved));
            }
            Err(source) => {
                let undone = undo_swaps(to, staging, &done);
                return Err(BackupError::Swap {
                    target: to.to_path_buf(),
                    root: root.clone(),
                    source,
                    undone,
                });
            }
        }
    }
    Ok(quarantined)
}

/// Puts back the swaps in `done`, last first. Returns whether all went back.
fn undo_swaps(to: &Path, staging: &Path, done: &[(&str, Option<PathBuf>)]) -> bool {
    let mut ok = true;
    for (root, moved) in done.iter().rev() {
        let dest = to.join(root);
        ok &= sys::rename_noreplace(&dest, &staging.join(root)).is_ok();
        if let Some(q) = moved {
            ok &= sys::rename_noreplace(q, &dest).is_ok();
        }
    }
    ok
}

/// `base`, or `base-2`, `base-3`… : the first name `make` succeeds with (it fails with
/// `AlreadyExists` on a taken name).
fn unique_path(base: &Path, mut make: impl FnMut(&Path) -> io::Result<()>) -> io::Result<PathBuf> {
    let mut candidate = base.to_path_buf();
    for n in 2.. {
        match make(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => {
                candidate = PathBuf::from(format!("{}-{n}", base.display()));
            }
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop returns")
}

/// Removes the staging dir's empty directories, deepest first; never a file.
fn remove_empty_dirs(dir: &Path) {
    if let Ok(children) = fs::read_dir(dir) {
        for child in children.flatten() {
            if child.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_dirs(&child.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}

/// Owner (as root), mode and mtime of a restored directory, set once its contents are in.
fn apply_dir_meta(path: &Path, entry: &Entry, as_root: bool) -> Result<(), BackupError> {
    let err = |e| BackupError::io("set the owner, mode and time of", path, e);
    if as_root {
        std::os::unix::fs::chown(path, Some(entry.uid), Some(entry.gid)).map_err(err)?;
    }
    fs::set_permissions(path, fs::Permissions::from_mode(entry.mode)).map_err(err)?;
    sys::set_mtime_nofollow(path, entry.mtime).map_err(err)
}

/// Writes checked members into the staging dir.
struct Extractor {
    staging: PathBuf,
    as_root: bool,
    /// The file being written and its path.
    file: Option<(File, PathBuf)>,
    /// Directories extracted, with their entries: their metadata is set at the end, since
    /// writing their contents would change their mtime (and a read-only mode would stop it).
    dirs: Vec<(PathBuf, Entry)>,
}

impl Extractor {
    fn path_of(&self, entry: &Entry) -> PathBuf {
        self.staging.join(&entry.path)
    }

    /// Creates the parents of `path` inside the staging dir. The manifest check guarantees
    /// that none of them is a symlink or a file from the archive.
    fn parents(&self, path: &Path) -> Result<(), BackupError> {
        let parent = fsutil::parent_dir(path);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| BackupError::io("create", parent, e))
    }

    /// Sets the metadata of every directory but the roots (set after the swap: a read-only
    /// directory could not be renamed by a non-root user), deepest first.
    fn finish_dirs(&mut self, roots: &[String]) -> Result<(), BackupError> {
        self.dirs
            .sort_by_key(|(path, _)| std::cmp::Reverse(path.components().count()));
        for (path, entry) in &self.dirs {
            if !roots.contains(&entry.path) {
                apply_dir_meta(path, entry, self.as_root)?;
            }
        }
        Ok(())
    }
}

impl Sink for Extractor {
    fn dir(&mut self, entry: &Entry) -> Result<(), BackupError> {
        let path = self.path_of(entry);
        self.parents(&path)?;
        match fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => {}
            // Made earlier as the parent of a member that came first.
            Err(e)
                if e.kind() == io::ErrorKind::AlreadyExists
                    && fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) => {}
            Err(e) => return Err(BackupError::io("create", &path, e)),
        }
        self.dirs.push((path, entry.clone()));
        Ok(())
    }

    fn symlink(&mut self, entry: &Entry) -> Result<(), BackupError> {
        let path = self.path_of(entry);
        self.parents(&path)?;
        let target = entry
            .target
            .as_deref()
            .expect("checked: symlinks have targets");
        let err = |e| BackupError::io("create the symlink", &path, e);
        std::os::unix::fs::symlink(target, &path).map_err(err)?;
        if self.as_root {
            std::os::unix::fs::lchown(&path, Some(entry.uid), Some(entry.gid)).map_err(err)?;
        }
        sys::set_mtime_nofollow(&path, entry.mtime).map_err(err)
    }

    fn file_start(&mut self, entry: &Entry) -> Result<(), BackupError> {
        let path = self.path_of(entry);
        self.parents(&path)?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| BackupError::io("create", &path, e))?;
        self.file = Some((file, path));
        Ok(())
    }

    fn file_data(&mut self, data: &[u8]) -> Result<(), BackupError> {
        let (file, path) = self.file.as_mut().expect("file_start came first");
        file.write_all(data)
            .map_err(|e| BackupError::io("write", path.as_path(), e))
    }

    fn file_end(&mut self, entry: &Entry) -> Result<(), BackupError> {
        let (file, path) = self.file.take().expect("file_start came first");
        let err = |e| BackupError::io("set the owner, mode and time of", &path, e);
        // Owner first: chown clears the setuid and setgid bits the mode may set.
        if self.as_root {
            std::os::unix::fs::fchown(&file, Some(entry.uid), Some(entry.gid)).map_err(err)?;
        }
        file.set_permissions(fs::Permissions::from_mode(entry.mode))
            .map_err(err)?;
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(entry.mtime);
        file.set_times(FileTimes::new().set_accessed(time).set_modified(time))
            .map_err(err)
    }
}
