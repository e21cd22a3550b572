//! The first copy, while the stack runs: directories made, regular files cloned (`FICLONE`)
//! or copied on a few threads at once, symlinks made, then every entry's metadata (a
//! directory's last, once its children stopped changing its times).

use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::meta::{self, Kind};
use super::{StagingError, Stats};

/// `FICLONE` from `<linux/fs.h>`: `_IOW(0x94, 9, int)`.
const FICLONE: libc::c_ulong = 0x4004_9409;
/// Copy threads at most (the disk, not the CPU, is what they wait on).
const MAX_THREADS: usize = 4;

/// What the walk found under a root, in walk order (a directory before its children).
#[derive(Default)]
pub(super) struct Tree {
    pub dirs: Vec<(PathBuf, PathBuf, Metadata)>,
    pub files: Vec<(PathBuf, PathBuf, Metadata)>,
    pub links: Vec<(PathBuf, PathBuf, Metadata)>,
}

/// Copies the tree at `src` (a directory, or a single file) to `dst`, which must not exist.
/// Entries that vanish while it runs (the stack is live) are left out: the delta pass
/// after `down` brings the copy to the stopped state.
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<Stats, StagingError> {
    let root = fs::symlink_metadata(src).map_err(|e| StagingError::new("read", src, e))?;
    let mut tree = Tree::default();
    add(&mut tree, src, dst, root)?;
    make(&tree, true)
}

/// Adds the entry `src` (with its metadata) and, for a directory, everything under it.
pub(super) fn add(
    tree: &mut Tree,
    src: &Path,
    dst: &Path,
    meta: Metadata,
) -> Result<(), StagingError> {
    match meta::kind(&meta) {
        Kind::File => tree.files.push((src.into(), dst.into(), meta)),
        Kind::Symlink => tree.links.push((src.into(), dst.into(), meta)),
        Kind::Other => {}
        Kind::Dir => {
            tree.dirs.push((src.into(), dst.into(), meta));
            let entries = match fs::read_dir(src) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(StagingError::new("read the directory", src, e)),
            };
            let mut children: Vec<_> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .collect();
            children.sort();
            for name in children {
                let from = src.join(&name);
                match fs::symlink_metadata(&from) {
                    Ok(m) => add(tree, &from, &dst.join(&name), m)?,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StagingError::new("read", &from, e)),
                }
            }
        }
    }
    Ok(())
}

/// Makes every entry of `tree` (none exists yet). `live`: a file that vanished since the
/// walk is left out rather than an error.
pub(super) fn make(tree: &Tree, live: bool) -> Result<Stats, StagingError> {
    let mut stats = Stats::default();
    for (_, dst, _) in &tree.dirs {
        fs::create_dir(dst).map_err(|e| StagingError::new("create the directory", dst, e))?;
        stats.others_made += 1;
    }
    stats.add(&copy_files(&tree.files, live)?);
    for (src, dst, m) in &tree.links {
        let target = match fs::read_link(src) {
            Ok(t) => t,
            Err(e) if live && e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StagingError::new("read the symlink", src, e)),
        };
        std::os::unix::fs::symlink(&target, dst)
            .map_err(|e| StagingError::new("create the symlink", dst, e))?;
        meta::apply(dst, m, None)?;
        stats.others_made += 1;
    }
    // Deepest first: setting a directory's times after its children are made.
    for (_, dst, m) in tree.dirs.iter().rev() {
        meta::apply(dst, m, None)?;
    }
    Ok(stats)
}

/// Copies `files` on up to [`MAX_THREADS`] threads.
fn copy_files(files: &[(PathBuf, PathBuf, Metadata)], live: bool) -> Result<Stats, StagingError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_THREADS)
        .min(files.len().max(1));
    let next = AtomicUsize::new(0);
    let total = Mutex::new(Stats::default());
    let failure: Mutex<Option<StagingError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut stats = Stats::default();
                loop {
                    if failure.lock().expect("not poisoned").is_some() {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((src, dst, m)) = files.get(i) else {
                        break;
                    };
                    match copy_file(src, dst) {
                        Ok(cloned) => {
                            stats.files_copied += 1;
                            stats.files_cloned += u64::from(cloned);
                            stats.bytes_read += if cloned { 0 } else { m.len() };
                            if let Err(e) = meta::apply(dst, m, None) {
                                failure.lock().expect("not poisoned").get_or_insert(e);
                            }
                        }
                        Err(e) if live && e.source.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => {
                            failure.lock().expect("not poisoned").get_or_insert(e);
                        }
                    }
                }
                total.lock().expect("not poisoned").add(&stats);
            });
        }
    });
    if let Some(e) = failure.into_inner().expect("not poisoned") {
        return Err(e);
    }
    Ok(total.into_inner().expect("not poisoned"))
}

/// Copies the regular file `src` to `dst` (created, 0600 until its metadata is set):
/// a reflink clone where the filesystem has it (`true`), else its bytes.
pub(super) fn copy_file(src: &Path, dst: &Path) -> Result<bool, StagingError> {
    let mut from = File::open(src).map_err(|e| StagingError::new("read", src, e))?;
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dst)
        .map_err(|e| StagingError::new("create", dst, e))?;
    if clone(&from, &to).is_ok() {
        return Ok(true);
    }
    // `io::copy` between files is `copy_file_range` on Linux: in the kernel, no buffer here.
    io::copy(&mut from, &mut to).map_err(|e| StagingError::new("copy", src, e))?;
    Ok(false)
}

/// `ioctl(to, FICLONE, from)`: `to` shares `from`'s blocks (Btrfs, XFS with reflink, …).
fn clone(from: &File, to: &File) -> io::Result<()> {
    // SAFETY: both descriptors are open files owned by the caller for the whole call;
    // FICLONE takes the source descriptor as its argument and writes no memory.
    let rc = unsafe { libc::ioctl(to.as_raw_fd(), FICLONE as _, from.as_raw_fd()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether files in `dir` can be reflink-cloned (a probe: two files made and removed).
pub(crate) fn reflink_works(dir: &Path) -> bool {
    let probe = || -> io::Result<bool> {
        let tmp = tempfile::Builder::new()
            .prefix(".xzup-reflink-")
            .tempdir_in(dir)?;
        let a = tmp.path().join("a");
        fs::write(&a, b"xzup reflink probe")?;
        let from = File::open(&a)?;
        let to = File::create(tmp.path().join("b"))?;
        Ok(clone(&from, &to).is_ok())
    };
    probe().unwrap_or(false)
}
