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

/// What `prune` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    pub removed: Vec<Pruned>,
    /// Archives kept, each with why.
    pub kept: Vec<(PathBuf, String)>,
    /// Files left alone because they are not usable xzup archives.
    pub ignored: Vec<PathBuf>,
    pub freed_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pruned {
    pub path: PathBuf,
    pub archive_bytes: u64,
}

/// Deletes old archives in `dir`, keeping the newest `keep`, the newest verified one, and
/// every archive in `protected` (those an unfinished or recent run refers to). This is the
/// one deletion xzup makes; the archive's verification record goes with it.
pub fn prune(dir: &Path, keep: usize, protected: &[PathBuf]) -> Result<PruneReport, BackupError> {
    let infos = list(dir)?;
    let same = |a: &Path, b: &Path| match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    let newest_verified = infos
        .iter()
        .find(|i| i.usable() && i.verified)
        .map(|i| i.path.clone());
    let mut report = PruneReport::default();
    let mut usable_seen = 0;
    for info in infos {
        if !info.usable() {
            report.ignored.push(info.path);
            continue;
        }
        usable_seen += 1;
        let reason = if usable_seen <= keep {
            Some(format!("one of the newest {keep}"))
        } else if newest_verified.as_deref() == Some(info.path.as_path()) {
            Some("the newest verified backup".to_string())
        } else if protected.iter().any(|p| same(p, &info.path)) {
            Some("a run refers to it".to_string())
        } else {
            None
        };
        if let Some(reason) = reason {
            report.kept.push((info.path, reason));
            continue;
        }
        fs::remove_file(&info.path).map_err(|e| BackupError::io("delete", &info.path, e))?;
        let record = sidecar(&info.path);
        match fs::remove_file(&record) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(BackupError::io("delete", record, e));
            }
            _ => {}
        }
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
