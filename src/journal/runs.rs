//! Runs on disk: `.xzup/runs/<run-id>/journal.json`, one directory per run.
//!
//! A run id reads `20261125-193000-apply-ultra`: its UTC start time first, so ids sort by
//! time whatever the host's time zone, then what it did, for people.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::{Journal, JournalError, Outcome, RunKind};
use crate::fsutil;

/// The runs directory, relative to the state dir.
pub const RUNS_DIR: &str = "runs";
/// A run's journal, inside its run directory.
pub const JOURNAL_FILE: &str = "journal.json";

/// `STATE_DIR/runs`
pub fn runs_dir(state_dir: &Path) -> PathBuf {
    state_dir.join(RUNS_DIR)
}

/// `20261125-193000-apply-ultra`: the tier name is kept to letters, digits, `-` and `_`
/// so that any tiers file gives a valid directory name.
pub fn new_run_id(started_at: &DateTime<Utc>, kind: RunKind, tier: &str) -> String {
    let tier: String = tier
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let mut id = format!("{}-{}", started_at.format("%Y%m%d-%H%M%S"), kind.name());
    if !tier.is_empty() {
        id.push('-');
        id.push_str(&tier);
    }
    id
}

/// Creates the directory of a new run (0700), `-2`, `-3`… appended to the id when a run
/// started in the same second already has it.
pub(super) fn create_run_dir(
    state_dir: &Path,
    started_at: &DateTime<Utc>,
    kind: RunKind,
    tier: &str,
) -> Result<(String, PathBuf), JournalError> {
    let runs = runs_dir(state_dir);
    // Both owner-only: `ensure_private_dir` sets the mode of the last component only.
    for dir in [state_dir, runs.as_path()] {
        fsutil::ensure_private_dir(dir)
            .map_err(|e| JournalError::io("create the directory", dir, e))?;
    }
    let base = new_run_id(started_at, kind, tier);
    for n in 1.. {
        let id = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let dir = runs.join(&id);
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok((id, dir)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(JournalError::io("create the directory", &dir, e)),
        }
    }
    unreachable!("some suffix is free")
}

/// The runs of a deployment, read from disk.
#[derive(Debug, Default)]
pub struct Listing {
    /// Newest first (by start time, then id).
    pub runs: Vec<Journal>,
    /// Journals that could not be read, each with its path and a hint.
    pub unreadable: Vec<JournalError>,
}

/// Every run of the deployment whose state dir is `state_dir`, newest first. No `.xzup`
/// or no runs: an empty listing. A run directory without `journal.json` (the process died
/// between creating it and writing the journal, before any step) is passed over.
pub fn list(state_dir: &Path) -> Result<Listing, JournalError> {
    let runs = runs_dir(state_dir);
    let entries = match fs::read_dir(&runs) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Listing::default()),
        Err(e) => return Err(JournalError::io("read", &runs, e)),
    };
    let mut listing = Listing::default();
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io("read", &runs, e))?;
        let path = entry.path().join(JOURNAL_FILE);
        if !entry.path().is_dir() || !path.exists() {
            continue;
        }
        match Journal::load(&path) {
            Ok(journal) => listing.runs.push(journal),
            Err(e) => listing.unreadable.push(e),
        }
    }
    listing
        .runs
        .sort_by(|a, b| (b.run().started_at, b.id()).cmp(&(a.run().started_at, a.id())));
    Ok(listing)
}

/// The run that has not finished (outcome `in-progress`), if any: `apply` refuses to start
/// while there is one, `resume` continues it. The newest run, when its rollback failed
/// (exit 4), is unfinished too: the stack is in the state its failure named, and `resume`
/// or `rollback` continues the rollback from the step that failed (the engine stopped,
/// say, and is back). An unreadable journal is an error here: it could be that run, and
/// xzup does not guess.
pub fn unfinished(state_dir: &Path) -> Result<Option<Journal>, JournalError> {
    let mut listing = list(state_dir)?;
    if !listing.unreadable.is_empty() {
        return Err(listing.unreadable.swap_remove(0));
    }
    let newest_failed_rollback = listing
        .runs
        .first()
        .is_some_and(|j| j.run().outcome == Outcome::RollbackFailed);
    Ok(listing.runs.into_iter().enumerate().find_map(|(i, j)| {
        let open = j.run().outcome == Outcome::InProgress || (i == 0 && newest_failed_rollback);
        open.then_some(j)
    }))
}

/// The run with this id.
pub fn find(state_dir: &Path, id: &str) -> Result<Journal, JournalError> {
    let runs = runs_dir(state_dir);
    let unknown = || JournalError::UnknownRun {
        id: id.to_string(),
        runs_dir: runs.clone(),
    };
    // An id is one path component: `../x` or `a/b` name no run.
    if id.is_empty() || id.contains('/') || id == "." || id == ".." {
        return Err(unknown());
    }
    let path = runs.join(id).join(JOURNAL_FILE);
    if !path.is_file() {
        return Err(unknown());
    }
    Journal::load(&path)
}
