//! File-system helpers every module shares: atomic writes, owner-only directories, times
//! set on a path itself.
//!
//! Files that matter (journal, compose files, state) are written to a temp file in the same
//! directory, fsynced, renamed over the target, and the directory is fsynced, so a crash
//! leaves either the old file or the new one, never half of either.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes `contents` to `path` atomically with the given mode (e.g. `0o600`).
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.xzup-tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// fsyncs a directory so that a rename inside it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and any missing parents owner-only (0700). A directory that already
/// exists is left as it is: xzup never changes the mode of a directory it did not create
/// (`--backup-dir` may name the operator's own, or by mistake a data dir).
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && fs::symlink_metadata(p).is_err())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // The mode asked for is filtered by the umask: set it on what was created.
    for created in missing {
        fs::set_permissions(created, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Bytes free for an unprivileged writer on the file system holding `path`.
pub fn available_space(path: &Path) -> io::Result<u64> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated string and `st` a writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Moves whatever stands at `path` aside to `<path>.xzup-quarantine-<timestamp>` instead of
/// overwriting or deleting it. Returns where it went, or `None` when nothing was there.
pub fn quarantine(path: &Path) -> io::Result<Option<PathBuf>> {
    if fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    let base = format!("{}.xzup-quarantine-{stamp}", path.display());
    let mut dest = PathBuf::from(&base);
    let mut n = 1;
    while fs::symlink_metadata(&dest).is_ok() {
        n += 1;
        dest = PathBuf::from(format!("{base}-{n}"));
    }
    fs::rename(path, &dest)?;
    sync_dir(parent_dir(path))?;
    Ok(Some(dest))
}

/// The bytes of regular files under `path` (symlinks not followed); 0 when it is missing.
pub fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_file() {
        return meta.len();
    }
    if !meta.is_dir() {
        return 0;
    }
    let Ok(entries) = fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| disk_usage(&e.path()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_content_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one", 0o600).unwrap();
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file left behind");
    }

    #[test]
    fn private_dir_is_0700() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".xzup/runs");
        ensure_private_dir(&state).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        assert_eq!(
            mode(&dir.path().join(".xzup")),
            0o700,
            "a parent it created too"
        );
    }

    #[test]
    fn private_dir_leaves_an_existing_dir_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join("mine");
        fs::create_dir(&mine).unwrap();
        fs::set_permissions(&mine, fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&mine).unwrap();
        ensure_private_dir(&mine.join("new")).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&mine), 0o755);
        assert_eq!(mode(&mine.join("new")), 0o700);
    }

    #[test]
    fn quarantine_moves_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.yml");
        assert_eq!(quarantine(&path).unwrap(), None);
        fs::write(&path, "old").unwrap();
        let moved = quarantine(&path).unwrap().unwrap();
        assert!(!path.exists());
        assert_eq!(fs::read_to_string(&moved).unwrap(), "old");
        assert!(moved.to_string_lossy().contains(".xzup-quarantine-"));
    }

    #[test]
    fn disk_usage_sums_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a/b")).unwrap();
        fs::write(dir.path().join("a/x"), [0u8; 10]).unwrap();
        fs::write(dir.path().join("a/b/y"), [0u8; 5]).unwrap();
        assert_eq!(disk_usage(&dir.path().join("a")), 15);
        assert_eq!(disk_usage(&dir.path().join("missing")), 0);
    }
}

/// A time as `utimensat` takes it: seconds and nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileTime {
    pub secs: i64,
    pub nanos: i64,
}

impl FileTime {
    pub fn from_secs(secs: u64) -> FileTime {
        FileTime {
            secs: secs as i64,
            nanos: 0,
        }
    }
}

/// Sets the access and modification times of `path` itself: a symlink is not followed
/// (std's `File::set_times` needs an open file, which a symlink cannot be).
pub fn set_times_nofollow(path: &Path, atime: FileTime, mtime: FileTime) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    let spec = |t: FileTime| libc::timespec {
        tv_sec: t.secs as libc::time_t,
        tv_nsec: t.nanos as _,
    };
    let times = [spec(atime), spec(mtime)];
    // SAFETY: a valid NUL-terminated path and a two-element timespec array, as utimensat
    // requires; both outlive the call.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            p.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
