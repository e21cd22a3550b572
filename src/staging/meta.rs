//! Copying an entry's metadata: owner, mode, times (symlinks: owner and times only).

use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::StagingError;
use crate::fsutil::{self, FileTime};

/// Gives `dst` the owner, mode and times of `src` (its metadata), where they differ. A
/// symlink gets owner and times (a link has no mode of its own). The owner is set first:
/// `chown` clears set-id bits, the mode then puts them back.
pub(super) fn apply(
    dst: &Path,
    src: &Metadata,
    dst_now: Option<&Metadata>,
) -> Result<(), StagingError> {
    let link = src.file_type().is_symlink();
    let owner_differs = dst_now.is_none_or(|d| d.uid() != src.uid() || d.gid() != src.gid());
    if owner_differs {
        std::os::unix::fs::lchown(dst, Some(src.uid()), Some(src.gid()))
            .map_err(|e| StagingError::new("keep the owner of", dst, e))?;
    }
    if !link {
        let mode = src.mode() & 0o7777;
        if owner_differs || dst_now.is_none_or(|d| d.mode() & 0o7777 != mode) {
            fs::set_permissions(dst, fs::Permissions::from_mode(mode))
                .map_err(|e| StagingError::new("set the mode of", dst, e))?;
        }
    }
    let same_times = dst_now.is_some_and(|d| {
        d.mtime() == src.mtime()
            && d.mtime_nsec() == src.mtime_nsec()
            && d.atime() == src.atime()
            && d.atime_nsec() == src.atime_nsec()
    });
    if !same_times {
        set_times(dst, src).map_err(|e| StagingError::new("set the times of", dst, e))?;
    }
    Ok(())
}

/// `src`'s atime and mtime on `dst` itself (a symlink is not followed).
fn set_times(dst: &Path, src: &Metadata) -> io::Result<()> {
    let time = |secs, nanos| FileTime { secs, nanos };
    fsutil::set_times_nofollow(
        dst,
        time(src.atime(), src.atime_nsec()),
        time(src.mtime(), src.mtime_nsec()),
    )
}

/// The kinds a staging copy holds: the others (sockets, fifos, devices) are left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

pub(super) fn kind(meta: &Metadata) -> Kind {
    let t = meta.file_type();
    if t.is_symlink() {
        Kind::Symlink
    } else if t.is_dir() {
        Kind::Dir
    } else if t.is_file() {
        Kind::File
    } else {
        Kind::Other
    }
}
