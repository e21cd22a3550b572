//! The archives in a backup dir: listing (time, size, ratio, verified), and pruning.
//!
//! Whether an archive was verified is recorded beside it in `<archive>.verified` (JSON,
//! 0600), written after a successful read-back by `create` or `xzup backups verify`. The
//! record holds the archive's size and mtime; an archive that changed since no longer counts
//! as verified. A sidecar per archive (rather than an index file for the dir) keeps each
//! record atomic and makes copying or deleting an archive by hand do the obvious thing.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{BackupError, read_manifest};
use crate::fsutil;

/// Suffix of the verification record beside an archive.
pub const VERIFIED_SUFFIX: &str = ".verified";

/// One archive in a backup dir.
#[derive(Debug, Clone, Serialize)]
pub struct BackupInfo {
    pub path: PathBuf,
    /// When the backup was made (RFC 3339, from the manifest; else the file's mtime).
    pub created: String,
    pub archive_bytes: u64,
    /// Bytes of file data in it (from the manifest).
    pub data_bytes: Option<u64>,
    /// data bytes / archive bytes, e.g. 3.1.
    pub ratio: Option<f64>,
    pub entries: Option<usize>,
    pub verified: bool,
    /// Why this is not a usable backup (not an xzup archive, interrupted), if it is not.
    pub problem: Option<String>,
}

impl BackupInfo {
    pub fn usable(&self) -> bool {
        self.problem.is_none()
    }
}

/// The record in `<archive>.verified`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub archive_bytes: u64,
    /// The archive's mtime (seconds) when it was verified.
    pub archive_mtime: i64,
    pub verified_at: String,
    pub tool: String,
}

fn sidecar(archive: &Path) -> PathBuf {
    let mut name = archive.as_os_str().to_os_string();
    name.push(VERIFIED_SUFFIX);
    PathBuf::from(name)
}

/// Records that `archive` was just verified.
pub fn record_verified(archive: &Path) -> Result<(), BackupError> {
    let meta = fs::metadata(archive).map_err(|e| BackupError::io("read", archive, e))?;
    let record = Verification {
        archive_bytes: meta.len(),
        archive_mtime: meta.mtime(),
        verified_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        tool: super::TOOL.to_string(),
    };
    let path = sidecar(archive);
    let bytes = serde_json::to_vec_pretty(&record).expect("records serialise");
    fsutil::write_atomic(&path, &bytes, 0o600)
        .map_err(|e| BackupError::io("record the verification in", &path, e))
}

/// Whether `archive` has a verification record that still matches it.
pub fn is_verified(archive: &Path) -> bool {
    let Ok(meta) = fs::metadata(archive) else {
        return false;
    };
    let Ok(bytes) = fs::read(sidecar(archive)) else {
        return false;
    };
    serde_json::from_slice::<Verification>(&bytes)
        .is_ok_and(|r| r.archive_bytes == meta.len() && r.archive_mtime == meta.mtime())
}

/// The archives in `dir` (`*.tar.gz`, `*.tgz`, and interrupted `*.partial` ones), newest
/// first. A missing dir has none.
pub fn list(dir: &Path) -> Result<Vec<BackupInfo>, BackupError> {
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BackupError::io("read the directory", dir, e)),
    };
    let mut infos = Vec::new();
    for item in read {
        let item = item.map_err(|e| BackupError::io("read the directory", dir, e))?;
        let name = item.file_name();
        let name = name.to_string_lossy();
        let partial = name.ends_with(".partial");
        let archive = name.ends_with(".tar.gz") || name.ends_with(".tgz");
        if !(archive || partial) || !item.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = item.path();
        let meta = fs::metadata(&path).map_err(|e| BackupError::io("read", &path, e))?;
        let mtime = chrono::DateTime::from_timestamp(meta.mtime(), 0)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut info = BackupInfo {
            path: path.clone(),
            created: mtime,
            archive_bytes: meta.len(),
            data_bytes: None,
            ratio: None,
            entries: None,
            verified: false,
            problem: None,
        };
        if partial {
            info.problem = Some("unfinished: the backup writing it was interrupted".into());
        } else {
            match read_manifest(&path) {
                Ok(manifest) => {
                    info.created = manifest.created;
                    info.data_bytes = Some(manifest.data_bytes);
                    info.ratio = Some(manifest.data_bytes as f64 / meta.len().max(1) as f64);
                    info.entries = Some(manifest.entries.len());
                    info.verified = is_verified(&path);
                }
                Err(e) => info.problem = Some(e.to_string()),
            }
        }
        infos.push(info);
    }
    infos.sort_by(|a, b| {
        let time = |i: &BackupInfo| chrono::DateTime::parse_from_rfc3339(&i.created).ok();
        time(b).cmp(&time(a)).then_with(|| b.path.cmp(&a.path))
    });
    Ok(infos)
}

/// Verifies `archive` now and records the outcome beside it: a good archive gets its
/// `.verified` record, a bad one loses it (so `list` and `prune` no longer count it as
/// verified). An interruption changes nothing. A record that cannot be written is a warning
/// for the caller (the second value), not a failure of the verification.
pub fn check(
    archive: &Path,
    progress: &mut dyn super::ProgressSink,
) -> Result<(super::Manifest, Option<BackupError>), BackupError> {
    match super::verify_with_progress(archive, progress) {
        Ok(manifest) => Ok((manifest, record_verified(archive).err())),
        Err(e @ BackupError::Interrupted(_)) => Err(e),
        Err(e) => {
            // Whatever the record said, it is not true any more. Clearing it is the point;
            // a failure to clear is a lesser error than the archive's own.
            let _ = clear_verified(archive);
            Err(e)
        }
    }
}

/// Removes the verification record of `archive`, if any.
pub fn clear_verified(archive: &Path) -> Result<(), BackupError> {
    let record = sidecar(archive);
    match fs::remove_file(&record) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(BackupError::io("delete", record, e))
        }
        _ => Ok(()),
    }
}

/// What `prune` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    pub removed: Vec<Pruned>,
    /// Archives kept, each with why.
    pub kept: Vec<(PathBuf, String)>,
    /// Archives that do not verify now, each with the error: never deleted (look inside),
    /// their verification record removed.
    pub failed: Vec<(PathBuf, String)>,
    /// Files left alone because they are not usable xzup archives.
    pub ignored: Vec<PathBuf>,
    pub freed_bytes: u64,
    /// How many archives were read back and verified just now (at most `keep`).
    pub verified_now: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pruned {
    pub path: PathBuf,
    pub archive_bytes: u64,
}

/// Deletes old archives in `dir`, keeping the newest `keep` that verify *now* (each is
/// read back in full before anything is deleted: a `.verified` record says only how it
/// was) and every archive in `protected` (those an unfinished or recent run refers to).
/// Archives newer than those that do not verify are kept too, reported in `failed` with
/// their record cleared: prune never deletes the last good backup, nor the evidence of a
/// bad one. Nothing is deleted until the good ones are found, and nothing when none is.
/// This is the one deletion xzup makes; the archive's verification record goes with it.
pub fn prune(
    dir: &Path,
    keep: usize,
    protected: &[PathBuf],
    progress: &mut dyn super::ProgressSink,
) -> Result<PruneReport, BackupError> {
    assert!(keep > 0, "the command line refuses --keep 0");
    let infos = list(dir)?;
    let same = |a: &Path, b: &Path| match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    let mut report = PruneReport::default();
    let mut good = 0;
    let mut doomed = Vec::new();
    for info in infos {
        if !info.usable() {
            report.ignored.push(info.path);
            continue;
        }
        if good < keep {
            match check(&info.path, progress) {
                Ok(_) => {
                    good += 1;
                    let why = if keep == 1 {
                        "the newest backup that verifies (read back just now)".to_string()
                    } else {
                        format!("one of the newest {keep} backups that verify (read back just now)")
                    };
                    report.kept.push((info.path, why));
                }
                Err(e @ BackupError::Interrupted(_)) => return Err(e),
                Err(e) => report.failed.push((info.path, e.to_string())),
            }
        } else if protected.iter().any(|p| same(p, &info.path)) {
            report
                .kept
                .push((info.path, "a run refers to it".to_string()));
        } else {
            doomed.push(info);
        }
    }
    report.verified_now = good;
    // Only once `keep` good backups are known (`doomed` is empty otherwise).
    for info in doomed {
        fs::remove_file(&info.path).map_err(|e| BackupError::io("delete", &info.path, e))?;
        clear_verified(&info.path)?;
        report.freed_bytes += info.archive_bytes;
        report.removed.push(Pruned {
            path: info.path,
            archive_bytes: info.archive_bytes,
        });
    }
    if !report.removed.is_empty() {
        fsutil::sync_dir(dir).map_err(|e| BackupError::io("sync", dir, e))?;
    }
    Ok(report)
}
