//! The delta pass, once the stack is down: makes the copy exactly the source again.
//!
//! Entries gone from the source are removed from the copy, new ones copied, an entry of
//! another kind now replaced; a symlink whose target changed is made again; owners, modes
//! and times are set where they differ. A regular file is read again only when it may
//! have changed since the copy began: its size or mtime differs from the copy's, or its
//! mtime or ctime is not older than `since`. A large one is then compared block by block
//! and only the blocks that differ are written (a cloned copy keeps sharing the rest);
//! every other file is left as it is, unread.

use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::copy::{self, Tree};
use super::meta::{self, Kind};
use super::{StagingError, Stats};

/// Files at least this large are resynced block by block.
pub(super) const LARGE: u64 = 4 * 1024 * 1024;
/// The block compared and rewritten.
pub(super) const BLOCK: usize = 256 * 1024;

/// Makes `dst` (a copy made by [`copy::copy_tree`] that began at `since`) exactly `src`.
pub(crate) fn sync_tree(src: &Path, dst: &Path, since: SystemTime) -> Result<Stats, StagingError> {
    let mut stats = Stats::default();
    let meta = fs::symlink_metadata(src).map_err(|e| StagingError::new("read", src, e))?;
    sync_entry(src, dst, &meta, since, &mut stats)?;
    Ok(stats)
}

fn sync_entry(
    src: &Path,
    dst: &Path,
    src_meta: &Metadata,
    since: SystemTime,
    stats: &mut Stats,
) -> Result<(), StagingError> {
    let kind = meta::kind(src_meta);
    let mut dst_meta = match fs::symlink_metadata(dst) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(StagingError::new("read", dst, e)),
    };
    if let Some(existing) = &dst_meta
        && (meta::kind(existing) != kind || kind == Kind::Other)
    {
        remove(dst, existing)?;
        stats.removed += 1;
        dst_meta = None;
    }
    let Some(dst_meta) = dst_meta else {
        // New (or replaced): copied whole, as the first copy does.
        let mut tree = Tree::default();
        copy::add(&mut tree, src, dst, src_meta.clone())?;
        stats.add(&copy::make(&tree, false)?);
        return Ok(());
    };
    match kind {
        Kind::Other => {}
        Kind::File => {
            if needs_resync(src_meta, &dst_meta, since) {
                resync(src, dst, src_meta, &dst_meta, stats)?;
                let now =
                    fs::symlink_metadata(dst).map_err(|e| StagingError::new("read", dst, e))?;
                meta::apply(dst, src_meta, Some(&now))?;
            } else {
                stats.unchanged += 1;
                meta::apply(dst, src_meta, Some(&dst_meta))?;
            }
        }
        Kind::Symlink => {
            let target =
                fs::read_link(src).map_err(|e| StagingError::new("read the symlink", src, e))?;
            let same = fs::read_link(dst).is_ok_and(|t| t == target);
            if same {
                meta::apply(dst, src_meta, Some(&dst_meta))?;
            } else {
                fs::remove_file(dst).map_err(|e| StagingError::new("remove", dst, e))?;
                std::os::unix::fs::symlink(&target, dst)
                    .map_err(|e| StagingError::new("create the symlink", dst, e))?;
                meta::apply(dst, src_meta, None)?;
                stats.others_made += 1;
            }
        }
        Kind::Dir => {
            let names = |dir: &Path| -> Result<Vec<std::ffi::OsString>, StagingError> {
                let mut names: Vec<_> = fs::read_dir(dir)
                    .map_err(|e| StagingError::new("read the directory", dir, e))?
                    .map(|e| e.map(|e| e.file_name()))
                    .collect::<Result<_, _>>()
                    .map_err(|e| StagingError::new("read the directory", dir, e))?;
                names.sort();
                Ok(names)
            };
            let in_src = names(src)?;
            for name in names(dst)? {
                if in_src.binary_search(&name).is_err() {
                    let gone = dst.join(&name);
                    let m = fs::symlink_metadata(&gone)
                        .map_err(|e| StagingError::new("read", &gone, e))?;
                    remove(&gone, &m)?;
                    stats.removed += 1;
                }
            }
            for name in &in_src {
                let from = src.join(name);
                let m =
                    fs::symlink_metadata(&from).map_err(|e| StagingError::new("read", &from, e))?;
                sync_entry(&from, &dst.join(name), &m, since, stats)?;
            }
            // After the children: making and removing them changed the dir's times.
            let now = fs::symlink_metadata(dst).map_err(|e| StagingError::new("read", dst, e))?;
            meta::apply(dst, src_meta, Some(&now))?;
        }
    }
    Ok(())
}

/// Whether the file may differ from its copy: another size or mtime, or touched (mtime or
/// ctime) at or after the moment the copy began.
pub(super) fn needs_resync(src: &Metadata, dst: &Metadata, since: SystemTime) -> bool {
    let mtime = time(src.mtime(), src.mtime_nsec());
    let ctime = time(src.ctime(), src.ctime_nsec());
    src.len() != dst.len()
        || src.mtime() != dst.mtime()
        || src.mtime_nsec() != dst.mtime_nsec()
        || mtime >= since
        || ctime >= since
}

fn time(secs: i64, nsecs: i64) -> SystemTime {
    let offset = Duration::new(secs.unsigned_abs(), nsecs.clamp(0, 999_999_999) as u32);
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + offset
    } else {
        SystemTime::UNIX_EPOCH - offset
    }
}

/// Brings the copy's bytes to the source's: block by block for a large file, else whole.
fn resync(
    src: &Path,
    dst: &Path,
    src_meta: &Metadata,
    dst_meta: &Metadata,
    stats: &mut Stats,
) -> Result<(), StagingError> {
    if dst_meta.mode() & 0o200 == 0 {
        // Read-only for its owner: writable while it is brought up to date (the mode is
        // set again after).
        fs::set_permissions(dst, fs::Permissions::from_mode(0o600))
            .map_err(|e| StagingError::new("set the mode of", dst, e))?;
    }
    let mut from = File::open(src).map_err(|e| StagingError::new("read", src, e))?;
    if src_meta.len() >= LARGE && dst_meta.len() > 0 {
        let to = OpenOptions::new()
            .read(true)
            .write(true)
            .open(dst)
            .map_err(|e| StagingError::new("write", dst, e))?;
        let written =
            patch(&from, &to, src_meta.len()).map_err(|e| StagingError::new("resync", dst, e))?;
        stats.files_patched += 1;
        stats.blocks_written += written;
        stats.bytes_read += src_meta.len();
    } else {
        let mut to = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(dst)
            .map_err(|e| StagingError::new("write", dst, e))?;
        io::copy(&mut from, &mut to).map_err(|e| StagingError::new("copy", src, e))?;
        stats.files_copied += 1;
        stats.bytes_read += src_meta.len();
    }
    Ok(())
}

/// Writes into `to` each [`BLOCK`] of `from` that differs, then cuts `to` to `len`.
/// Returns how many blocks were written.
pub(super) fn patch(from: &File, to: &File, len: u64) -> io::Result<u64> {
    let mut a = vec![0u8; BLOCK];
    let mut b = vec![0u8; BLOCK];
    let mut written = 0;
    let mut offset = 0u64;
    while offset < len {
        let want = BLOCK.min((len - offset) as usize);
        read_full(from, &mut a[..want], offset)?;
        let got = read_upto(to, &mut b[..want], offset)?;
        if got < want || a[..want] != b[..want] {
            to.write_all_at(&a[..want], offset)?;
            written += 1;
        }
        offset += want as u64;
    }
    to.set_len(len)?;
    to.sync_data()?;
    Ok(written)
}

fn read_full(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let got = read_upto(file, buf, offset)?;
    if got < buf.len() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file got shorter while it was read (the stack is down: something else writes it)",
        ));
    }
    Ok(())
}

/// Reads at `offset` until `buf` is full or the file ends; how many bytes it read.
fn read_upto(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn remove(path: &Path, meta: &Metadata) -> Result<(), StagingError> {
    let result = if meta.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    result.map_err(|e| StagingError::new("remove", path, e))
}
