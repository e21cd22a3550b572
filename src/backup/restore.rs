//! Restoring an archive without deleting anything.
//!
//! Where each root goes is decided first ([`Destination`]): under a dir by its name in the
//! archive (`--to DIR`, what `tar -xzf` would do), or back where it came from — the data
//! path of that name in the deployment now: a bind mount's host path (a symlinked data dir:
//! where it points, as Docker mounts it), a named volume's mountpoint.
//!
//! 1. The manifest is read and checked (unsafe paths refused), and so is each destination:
//!    it must be reachable by a rename from a staging dir beside it (same file system, not
//!    a mount point).
//! 2. Every member is extracted into a staging dir — `<to>/.xzup-restore-<stamp>/`, or
//!    `.xzup-restore-<stamp>/` beside a destination elsewhere — while being checked against
//!    the manifest; a refusal, a mismatch or a truncation stops there, the staging dirs are
//!    removed (they hold only what this restore wrote) and the destinations are untouched.
//! 3. The staged data is synced to disk, then each root is swapped in by rename; what stood
//!    there goes to `<path>.xzup-quarantine-<stamp>` — for a volume, into a new volume
//!    `<volume>.xzup-quarantine-<stamp>` that `docker volume ls` shows. A failed swap puts
//!    back the roots already swapped.
//!
//! As root, owners are restored too; otherwise files belong to whoever runs the restore.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::helper::Helper;
use super::manifest::{Entry, EntryKind, Manifest, bytes_path, is_within};
use super::verify::{self, Sink};
use super::{BackupError, Phase, ProgressSink, sys};
use crate::datapath::{
    DataPaths, Reason, VOLUMES_DIR, mountpoint_readable, names_a_deployment_path,
};
use crate::fsutil;

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub archive: PathBuf,
    /// The dir restored into (`--to`), or the deployment dir.
    pub target: PathBuf,
    /// The roots restored, by their names in the archive.
    pub restored: Vec<String>,
    /// Where each root went.
    pub places: Vec<Placed>,
    /// What stood at those places, and where it went.
    pub quarantined: Vec<Quarantined>,
    pub files: usize,
    pub dirs: usize,
    pub symlinks: usize,
    pub data_bytes: u64,
    /// Owners restored (only when running as root).
    pub ownership_restored: bool,
    /// A staging dir, when something was left in it (it is normally removed).
    pub leftover: Option<PathBuf>,
}

/// Where one root of the archive was put.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placed {
    pub root: String,
    pub path: PathBuf,
    /// The volume whose mountpoint `path` is.
    pub volume: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quarantined {
    pub path: PathBuf,
    pub moved_to: PathBuf,
    /// For a volume: its name, and the new volume that now holds what was in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_to_volume: Option<String>,
}

/// Creates named volumes: the one a restore puts back into when it is gone, and the one
/// that keeps what stood in a volume.
pub trait VolumeStore {
    /// Creates the volume `name` with `labels`; returns its mountpoint.
    fn create(&self, name: &str, labels: &[(String, String)]) -> Result<PathBuf, String>;
}

impl VolumeStore for crate::docker::Docker {
    fn create(&self, name: &str, labels: &[(String, String)]) -> Result<PathBuf, String> {
        self.volume_create(name, labels)
            .map(|v| v.mountpoint)
            .map_err(|e| e.to_string())
    }
}

/// Where a restore puts the archive's roots.
pub enum Destination<'a> {
    /// Each under `dir` by its name in the archive (created when missing).
    Under(&'a Path),
    /// Each back where it came from in the deployment `dir`: the data path of its name in
    /// `paths` (the deployment's now), else, for a path of the deployment dir, there.
    InPlace {
        dir: &'a Path,
        paths: &'a DataPaths,
        volumes: &'a dyn VolumeStore,
    },
}

/// Restores `archive` into `to` (created when missing), each root by its name there; what
/// stood in the way is moved to `<path>.xzup-quarantine-<stamp>`. See the module doc.
pub fn restore(
    archive: &Path,
    to: &Path,
    stamp: &str,
    progress: &mut dyn ProgressSink,
) -> Result<RestoreReport, BackupError> {
    restore_to(archive, &Destination::Under(to), stamp, progress)
}

/// Restores `archive` to `destination`; see the module doc.
pub fn restore_to(
    archive: &Path,
    destination: &Destination<'_>,
    stamp: &str,
    progress: &mut dyn ProgressSink,
) -> Result<RestoreReport, BackupError> {
    let to = match destination {
        Destination::Under(dir) | Destination::InPlace { dir, .. } => *dir,
    };
    let to = std::path::absolute(to).map_err(|e| BackupError::io("resolve", to, e))?;
    let created_to = !to.exists();
    if created_to {
        fs::create_dir_all(&to).map_err(|e| BackupError::io("create", &to, e))?;
    }
    let staging = unique_path(&to.join(format!(".xzup-restore-{stamp}")), make_staging)
        .map_err(|e| BackupError::io("create a staging directory in", &to, e))?;

    let as_root = sys::euid() == 0;
    let places: RefCell<Vec<Place>> = RefCell::new(Vec::new());
    let mut extractor = Extractor {
        places: &places,
        as_root,
        file: None,
        dirs: Vec::new(),
    };
    let extracted = verify::read_archive(archive, &mut extractor, progress, Phase::Restore, |m| {
        let placed = place_roots(&to, &staging, destination, m, stamp)?;
        *places.borrow_mut() = placed;
        check_targets(&to, &places.borrow())
    })
    .and_then(|manifest| {
        extractor.finish_dirs(&manifest.roots)?;
        for dir in staging_dirs(&staging, &places.borrow()) {
            sys::syncfs(&dir).map_err(|e| BackupError::io("sync", &dir, e))?;
        }
        Ok(manifest)
    });
    // Closes a file left open by a failure, and lets go of the places.
    drop(extractor);
    let places = places.into_inner();
    let manifest = match extracted {
        Ok(manifest) => manifest,
        Err(e) => {
            // Only what this restore wrote: the destinations are untouched.
            for dir in staging_dirs(&staging, &places) {
                let _ = fs::remove_dir_all(&dir);
            }
            if created_to {
                let _ = fs::remove_dir(&to);
            }
            return Err(e);
        }
    };
    let volumes = match destination {
        Destination::InPlace { volumes, .. } => Some(*volumes),
        Destination::Under(_) => None,
    };
    let quarantined = swap_in(&to, &places, &manifest, volumes, stamp, progress)?;
    // (A volume written through a container got its root's metadata from the stream.)
    for place in places.iter().filter(|p| p.helper.is_none()) {
        let entry = manifest
            .entries
            .iter()
            .find(|e| e.path == place.root)
            .expect("checked: every root has an entry");
        if entry.kind == EntryKind::Dir {
            apply_dir_meta(&place.dest, entry, as_root)?;
        }
    }
    let mut leftover = None;
    for dir in staging_dirs(&staging, &places) {
        remove_empty_dirs(&dir);
        if dir.exists() {
            leftover = Some(dir);
        }
    }
    let (files, dirs, symlinks) = manifest.counts();
    Ok(RestoreReport {
        archive: archive.to_path_buf(),
        target: to,
        restored: manifest.roots.clone(),
        places: places
            .iter()
            .map(|p| Placed {
                root: p.root.clone(),
                path: p.dest.clone(),
                volume: p.volume.clone(),
            })
            .collect(),
        quarantined,
        files,
        dirs,
        symlinks,
        data_bytes: manifest.data_bytes,
        ownership_restored: as_root,
        leftover,
    })
}

/// Where one root goes, and where it is staged first.
#[derive(Debug, Clone)]
struct Place {
    root: String,
    /// Where it ends up.
    dest: PathBuf,
    /// When `dest` is a volume's mountpoint: the volume.
    volume: Option<String>,
    /// A volume this process cannot write at its mountpoint: written through a container.
    helper: Option<Helper>,
    /// The staging dir it is extracted into, and where the root itself lands there.
    staging: PathBuf,
    staged: PathBuf,
}

fn make_staging(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new().mode(0o700).create(path)
}

/// Each root's place (see [`Destination`]). A staging dir is made beside each destination
/// outside `to`; a volume that is gone is made again (empty, as Compose would on `up`).
fn place_roots(
    to: &Path,
    staging: &Path,
    destination: &Destination<'_>,
    manifest: &Manifest,
    stamp: &str,
) -> Result<Vec<Place>, BackupError> {
    let mut places = Vec::with_capacity(manifest.roots.len());
    let mut other_staging: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    for root in &manifest.roots {
        let refuse = |reason: String| BackupError::Target {
            target: to.to_path_buf(),
            root: root.clone(),
            reason,
        };
        let (dest, volume, helper) = match destination {
            Destination::Under(_) => (to.join(root), None, None),
            Destination::InPlace { paths, volumes, .. } => {
                if let Some(path) = paths.get(root) {
                    let volume = path.origin.volume().map(str::to_string);
                    let helper = match (&volume, &path.through_image) {
                        (Some(volume), Some(image)) => Some(Helper {
                            volume: volume.clone(),
                            image: image.clone(),
                        }),
                        _ => None,
                    };
                    (path.host.clone(), volume, helper)
                } else if let Some((name, key, image)) = missing_volume(paths, root) {
                    let project = name
                        .strip_suffix(&format!("_{key}"))
                        .unwrap_or(name.as_str());
                    let labels = crate::docker::compose_labels(project, &key);
                    let mountpoint = volumes.create(&name, &labels).map_err(|e| {
                        refuse(format!("cannot make the volume `{name}` again: {e}"))
                    })?;
                    let helper = match (mountpoint_readable(&mountpoint), image) {
                        (Ok(()), _) => None,
                        (Err(_), Some(image)) => Some(Helper {
                            volume: name.clone(),
                            image,
                        }),
                        (Err(why), None) => {
                            return Err(refuse(format!("cannot write volume `{name}`: {why}")));
                        }
                    };
                    (mountpoint, Some(name), helper)
                } else if names_a_deployment_path(root) {
                    (to.join(root), None, None)
                } else {
                    let came_from = manifest.origin(root).map_or_else(
                        || "elsewhere".to_string(),
                        |o| format!("from the {} (`{}`)", o.origin, o.host),
                    );
                    return Err(refuse(format!(
                        "it came {came_from}, which the compose file does not mount now: restore \
                         it elsewhere with `--to DIR` and put it in place by hand"
                    )));
                }
            }
        };
        // Through a container: staged in `to`, streamed into the volume from there.
        let (staging, staged) = if dest.starts_with(to) || helper.is_some() {
            (staging.to_path_buf(), staging.join(root))
        } else {
            let parent = fsutil::parent_dir(&dest).to_path_buf();
            let dir = match other_staging.get(&parent) {
                Some(dir) => dir.clone(),
                None => {
                    let dir =
                        unique_path(&parent.join(format!(".xzup-restore-{stamp}")), make_staging)
                            .map_err(|e| {
                            BackupError::io("create a staging directory in", &parent, e)
                        })?;
                    other_staging.insert(parent, dir.clone());
                    dir
                }
            };
            let name = dest.file_name().map(PathBuf::from).unwrap_or_default();
            (dir.clone(), dir.join(name))
        };
        places.push(Place {
            root: root.clone(),
            dest,
            volume,
            helper,
            staging,
            staged,
        });
    }
    Ok(places)
}

/// The volume an archive root names, when the deployment mounts it but it is gone: its
/// name, key, and the image of the service that mounts it.
fn missing_volume(paths: &DataPaths, root: &str) -> Option<(String, String, Option<String>)> {
    paths.left_out.iter().find_map(|l| match &l.reason {
        Reason::VolumeMissing { volume, key, image }
            if format!("{VOLUMES_DIR}/{volume}") == root =>
        {
            Some((volume.clone(), key.clone(), image.clone()))
        }
        _ => None,
    })
}

/// The staging dirs in use: the one in `to` and those beside other destinations.
fn staging_dirs(main: &Path, places: &[Place]) -> Vec<PathBuf> {
    let mut dirs = vec![main.to_path_buf()];
    for place in places {
        if !dirs.contains(&place.staging) {
            dirs.push(place.staging.clone());
        }
    }
    dirs
}

/// Checks, before extracting, that each root can be renamed into its place.
fn check_targets(to: &Path, places: &[Place]) -> Result<(), BackupError> {
    // A volume written through a container is not renamed into place.
    for place in places.iter().filter(|p| p.helper.is_none()) {
        let refuse = |reason: String| BackupError::Target {
            target: to.to_path_buf(),
            root: place.root.clone(),
            reason,
        };
        let staging_dev = fs::metadata(&place.staging)
            .map_err(|e| BackupError::io("read", &place.staging, e))?
            .dev();
        let dest = &place.dest;
        let parent = fsutil::parent_dir(dest);
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
                place.staging.display()
            )));
        }
        if let Ok(old) = fs::symlink_metadata(dest)
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

/// One root swapped in: how to undo it.
struct Swapped {
    dest: PathBuf,
    staged: PathBuf,
    /// Where what stood there went.
    moved: Option<PathBuf>,
    /// `dest` was an empty volume mountpoint (replaced), or `moved` is a quarantine
    /// volume's mountpoint (emptied): an empty dir to make again on undo.
    recreate: Option<PathBuf>,
}

/// Swaps each staged root into place, quarantining what stood there; on failure, puts
/// back what was already swapped. Volumes written through a container come last: what is
/// done there cannot be undone by a rename.
fn swap_in(
    to: &Path,
    places: &[Place],
    manifest: &Manifest,
    volumes: Option<&dyn VolumeStore>,
    stamp: &str,
    progress: &mut dyn ProgressSink,
) -> Result<Vec<Quarantined>, BackupError> {
    let mut done: Vec<Swapped> = Vec::new();
    let mut quarantined = Vec::new();
    for place in places.iter().filter(|p| p.helper.is_none()) {
        match swap_one(place, volumes, stamp) {
            Ok((swapped, q)) => {
                quarantined.extend(q);
                done.push(swapped);
                progress.swapped(&place.root);
            }
            Err(source) => {
                let undone = undo_swaps(&done);
                return Err(BackupError::Swap {
                    target: to.to_path_buf(),
                    root: place.root.clone(),
                    source,
                    undone,
                });
            }
        }
    }
    for place in places.iter().filter(|p| p.helper.is_some()) {
        let written = write_through(place, manifest, volumes, stamp);
        match written {
            Ok(q) => quarantined.extend(q),
            Err(e) => {
                let undone = undo_swaps(&done);
                return Err(BackupError::Swap {
                    target: to.to_path_buf(),
                    root: place.root.clone(),
                    source: io::Error::other(format!(
                        "{e}; what stood in the volume was moved to a volume `{}.xzup-quarantine-{stamp}` first, if it held anything",
                        place.volume.as_deref().unwrap_or("")
                    )),
                    undone,
                });
            }
        }
    }
    Ok(quarantined)
}

/// Puts a staged root into its volume through a container: what the volume holds goes
/// into a new quarantine volume first, then the staged copy is streamed in (with the
/// manifest's owners, modes and times) and removed from the staging dir.
fn write_through(
    place: &Place,
    manifest: &Manifest,
    volumes: Option<&dyn VolumeStore>,
    stamp: &str,
) -> Result<Option<Quarantined>, BackupError> {
    let helper = place
        .helper
        .as_ref()
        .expect("a place written through a container");
    let mut quarantined = None;
    if !helper.is_empty()? {
        let store = volumes.ok_or_else(|| BackupError::Target {
            target: place.dest.clone(),
            root: place.root.clone(),
            reason: "no engine to make a quarantine volume with".into(),
        })?;
        let (name, mountpoint) = quarantine_volume_through(store, helper, stamp)?;
        helper.move_into(&name)?;
        quarantined = Some(Quarantined {
            path: place.dest.clone(),
            moved_to: mountpoint,
            volume: Some(helper.volume.clone()),
            moved_to_volume: Some(name),
        });
    }
    helper.extract(|out| write_tar(out, &place.staged, &place.root, manifest))?;
    // The staged copy is this restore's own; the volume holds the data now.
    fs::remove_dir_all(&place.staged).map_err(|e| BackupError::io("remove", &place.staged, e))?;
    Ok(quarantined)
}

/// A new, empty quarantine volume for `helper`'s volume (checked empty through a container:
/// its mountpoint cannot be read here either).
fn quarantine_volume_through(
    store: &dyn VolumeStore,
    helper: &Helper,
    stamp: &str,
) -> Result<(String, PathBuf), BackupError> {
    let base = format!("{}.xzup-quarantine-{stamp}", helper.volume);
    for n in 1..100 {
        let name = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let mountpoint = store.create(&name, &[]).map_err(|e| BackupError::Target {
            target: PathBuf::from(&name),
            root: helper.volume.clone(),
            reason: format!("cannot make the quarantine volume: {e}"),
        })?;
        let probe = Helper {
            volume: name.clone(),
            image: helper.image.clone(),
        };
        if probe.is_empty()? {
            return Ok((name, mountpoint));
        }
    }
    Err(BackupError::Target {
        target: PathBuf::from(&base),
        root: helper.volume.clone(),
        reason: format!("no free name for a volume `{base}-N`"),
    })
}

/// Writes the staged `root` (at `staged`) as a tar stream, members named `./…` relative to
/// the root, owners, modes and times from the manifest (numeric owners: no names).
pub(super) fn write_tar(
    out: &mut dyn Write,
    staged: &Path,
    root: &str,
    manifest: &Manifest,
) -> Result<(), BackupError> {
    let err = |e: io::Error| BackupError::io("stream into the volume", staged, e);
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    for entry in manifest.entries.iter().filter(|e| is_within(&e.path, root)) {
        let path = entry.fs_path();
        let rel = path.strip_prefix(root).expect("within the root");
        let mut header = tar::Header::new_gnu();
        header.set_mode(entry.mode);
        header.set_uid(u64::from(entry.uid));
        header.set_gid(u64::from(entry.gid));
        header.set_mtime(entry.mtime);
        if rel.as_os_str().is_empty() {
            // The volume's root itself: `./`, written by hand (the builder refuses an
            // empty path).
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            header.as_old_mut().name[..2].copy_from_slice(b"./");
            header.set_cksum();
            builder.append(&header, io::empty()).map_err(err)?;
            continue;
        }
        let name = Path::new(".").join(rel);
        match entry.kind {
            EntryKind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                builder
                    .append_data(&mut header, &name, io::empty())
                    .map_err(err)?;
            }
            EntryKind::Symlink => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                let target = bytes_path(&entry.target_bytes());
                builder
                    .append_link(&mut header, &name, &target)
                    .map_err(err)?;
            }
            EntryKind::File => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(entry.size);
                let file = File::open(staged.join(rel)).map_err(err)?;
                builder.append_data(&mut header, &name, file).map_err(err)?;
            }
        }
    }
    builder.finish().map_err(err)
}

fn swap_one(
    place: &Place,
    volumes: Option<&dyn VolumeStore>,
    stamp: &str,
) -> io::Result<(Swapped, Option<Quarantined>)> {
    let dest = &place.dest;
    let parent = fsutil::parent_dir(dest);
    fs::create_dir_all(parent)?;
    let mut swapped = Swapped {
        dest: dest.clone(),
        staged: place.staged.clone(),
        moved: None,
        recreate: None,
    };
    let mut quarantined = None;
    match (fs::symlink_metadata(dest), &place.volume) {
        (Err(_), _) => sys::rename_noreplace(&place.staged, dest)?,
        (Ok(_), Some(volume)) if is_empty_dir(dest) => {
            // The empty mountpoint of a volume just made (or emptied): nothing to keep.
            fs::rename(&place.staged, dest)?;
            swapped.recreate = Some(dest.clone());
            let _ = volume;
        }
        (Ok(_), Some(volume)) => {
            let store = volumes.ok_or_else(|| io::Error::other("no engine to make a volume"))?;
            let (name, mountpoint) = quarantine_volume(store, volume, stamp)?;
            same_dev(dest, &mountpoint)?;
            // Onto the new volume's empty mountpoint: rename(2) replaces an empty dir.
            fs::rename(dest, &mountpoint)?;
            if let Err(e) = sys::rename_noreplace(&place.staged, dest) {
                let _ = fs::rename(&mountpoint, dest);
                let _ = fs::create_dir(&mountpoint);
                return Err(e);
            }
            swapped.moved = Some(mountpoint.clone());
            swapped.recreate = Some(mountpoint.clone());
            quarantined = Some(Quarantined {
                path: dest.clone(),
                moved_to: mountpoint,
                volume: Some(volume.clone()),
                moved_to_volume: Some(name),
            });
        }
        (Ok(_), None) => {
            let base = PathBuf::from(format!("{}.xzup-quarantine-{stamp}", dest.display()));
            let moved = unique_path(&base, |q| sys::rename_noreplace(dest, q))?;
            if let Err(e) = sys::rename_noreplace(&place.staged, dest) {
                let _ = sys::rename_noreplace(&moved, dest);
                return Err(e);
            }
            swapped.moved = Some(moved.clone());
            quarantined = Some(Quarantined {
                path: dest.clone(),
                moved_to: moved,
                volume: None,
                moved_to_volume: None,
            });
        }
    }
    fsutil::sync_dir(parent)?;
    Ok((swapped, quarantined))
}

/// A new volume `<volume>.xzup-quarantine-<stamp>` (`-2`, `-3`… when taken) for what stood
/// in `volume`: its name and its (empty) mountpoint.
fn quarantine_volume(
    store: &dyn VolumeStore,
    volume: &str,
    stamp: &str,
) -> io::Result<(String, PathBuf)> {
    let base = format!("{volume}.xzup-quarantine-{stamp}");
    for n in 1..100 {
        let name = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let mountpoint = store.create(&name, &[]).map_err(io::Error::other)?;
        // `docker volume create` of an existing name succeeds: only an empty one is ours.
        if is_empty_dir(&mountpoint) {
            return Ok((name, mountpoint));
        }
    }
    Err(io::Error::other(format!(
        "no free name for a volume `{base}-N`"
    )))
}

fn is_empty_dir(path: &Path) -> bool {
    fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
}

fn same_dev(a: &Path, b: &Path) -> io::Result<()> {
    if fs::metadata(a)?.dev() != fs::metadata(b)?.dev() {
        return Err(io::Error::other(format!(
            "`{}` and `{}` are on different file systems",
            a.display(),
            b.display()
        )));
    }
    Ok(())
}

/// Puts back the swaps in `done`, last first. Returns whether all went back.
fn undo_swaps(done: &[Swapped]) -> bool {
    let mut ok = true;
    for swapped in done.iter().rev() {
        ok &= sys::rename_noreplace(&swapped.dest, &swapped.staged).is_ok();
        if let Some(moved) = &swapped.moved {
            ok &= fs::rename(moved, &swapped.dest).is_ok();
        }
        if let Some(dir) = &swapped.recreate {
            ok &= fs::create_dir(dir).is_ok();
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

/// Writes checked members into the staging dirs.
struct Extractor<'p> {
    /// Known once the manifest is read.
    places: &'p RefCell<Vec<Place>>,
    as_root: bool,
    /// The file being written and its path.
    file: Option<(File, PathBuf)>,
    /// Directories extracted, with their entries: their metadata is set at the end, since
    /// writing their contents would change their mtime (and a read-only mode would stop it).
    dirs: Vec<(PathBuf, Entry)>,
}

impl Extractor<'_> {
    /// Where `entry` is staged: in its root's staging dir.
    fn path_of(&self, entry: &Entry) -> PathBuf {
        let places = self.places.borrow();
        let place = places
            .iter()
            .find(|p| is_within(&entry.path, &p.root))
            .expect("checked: every entry lies under a root");
        let path = entry.fs_path();
        let rest = path.strip_prefix(&place.root).expect("under its root");
        if rest.as_os_str().is_empty() {
            place.staged.clone()
        } else {
            place.staged.join(rest)
        }
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

impl Sink for Extractor<'_> {
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
        let target = bytes_path(&entry.target_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::helper::TarReader;
    use crate::backup::manifest::Manifest;

    fn entry(path: &str, kind: EntryKind, size: u64, target: Option<&str>) -> Entry {
        Entry {
            path: path.into(),
            path_hex: None,
            kind,
            size,
            mode: if kind == EntryKind::Dir { 0o750 } else { 0o640 },
            uid: 999,
            gid: 998,
            mtime: 1_600_000_000,
            sha256: (kind == EntryKind::File).then(|| "a".repeat(64)),
            target: target.map(String::from),
            target_hex: None,
        }
    }

    /// What a container's `tar -xf -` gets: the staged root with the manifest's owners,
    /// modes and times, the root as `./` (the rest relative to it).
    #[test]
    fn the_stream_into_a_volume_carries_the_manifests_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let staged = dir.path().join("vol");
        fs::create_dir_all(staged.join("db")).unwrap();
        fs::write(staged.join("ibdata1"), "pages").unwrap();
        fs::write(staged.join("db/t.ibd"), "rows!").unwrap();
        std::os::unix::fs::symlink("ibdata1", staged.join("link")).unwrap();
        let root = "docker-volumes/xz_dbdata";
        let manifest = Manifest::for_tests(
            &[root],
            vec![
                entry(root, EntryKind::Dir, 0, None),
                entry(&format!("{root}/db"), EntryKind::Dir, 0, None),
                entry(&format!("{root}/db/t.ibd"), EntryKind::File, 5, None),
                entry(&format!("{root}/ibdata1"), EntryKind::File, 5, None),
                entry(
                    &format!("{root}/link"),
                    EntryKind::Symlink,
                    0,
                    Some("ibdata1"),
                ),
            ],
        );
        let mut stream = Vec::new();
        write_tar(&mut stream, &staged, root, &manifest).unwrap();
        let mut reader = TarReader::new(&stream[..]);
        let mut got = Vec::new();
        while let Some(m) = reader.next_member().unwrap() {
            let mut data = vec![0u8; 16];
            let n = reader.data(&mut data).unwrap();
            data.truncate(n);
            got.push((
                String::from_utf8(m.path).unwrap(),
                m.kind,
                m.mode,
                m.uid,
                m.gid,
                m.mtime,
                data,
                m.link.map(|l| String::from_utf8(l).unwrap()),
            ));
        }
        let f = Some(EntryKind::File);
        let d = Some(EntryKind::Dir);
        let t = 1_600_000_000;
        assert_eq!(
            got,
            [
                ("".into(), d, 0o750, 999, 998, t, vec![], None),
                ("db".into(), d, 0o750, 999, 998, t, vec![], None),
                (
                    "db/t.ibd".into(),
                    f,
                    0o640,
                    999,
                    998,
                    t,
                    b"rows!".to_vec(),
                    None
                ),
                (
                    "ibdata1".into(),
                    f,
                    0o640,
                    999,
                    998,
                    t,
                    b"pages".to_vec(),
                    None
                ),
                (
                    "link".into(),
                    Some(EntryKind::Symlink),
                    0o640,
                    999,
                    998,
                    t,
                    vec![],
                    Some("ibdata1".into())
                ),
            ]
        );
        // GNU tar reads it too, members named as `tar -cf - -C DIR .` names them.
        let listing = std::process::Command::new("tar")
            .args(["-tvf", "-", "--numeric-owner"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().unwrap().write_all(&stream)?;
                child.wait_with_output()
            })
            .unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout);
        assert!(
            listing.contains("999/998") && listing.contains(" db/t.ibd"),
            "{listing}"
        );
    }
}
