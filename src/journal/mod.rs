//! The journal of a run: `.xzup/runs/<run-id>/journal.json`, what the upgrade engine
//! writes down so that a run can be resumed, rolled back and reported on.
//!
//! Modelled on sqlx migrate and refinery: each step is marked *started* in the journal
//! before it runs and *done* (or *failed*, *skipped*) after, and every change is written
//! at once — to a temp file, fsynced, renamed (`fsutil::write_atomic`) — so that whatever
//! kills the process, the journal on disk says which step was under way. Every step is
//! idempotent, so resume redoes a step found *started* ([`Run::next_step`]). The compose
//! files a run reads and writes are recorded with their sha256 ([`ComposeFileRef`]) so a
//! rollback can tell the bytes it restores are the ones the run saw.
//!
//! The journal never holds a secret: no environment values, no argv; messages are
//! redacted against the run's secrets ([`RunMeta::secrets`]) before they are stored.
//!
//! Parts: [`record`] (the data), [`runs`] (finding runs on disk), [`time`] (how times are
//! stored and shown).

mod record;
mod runs;
pub mod time;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::Deserialize;

use crate::fsutil;
use crate::roles::RoleMap;
use crate::secrets::Redactor;

pub use record::{
    BackupMode, BackupRef, BackupSettings, ComposeFileRef, KeptImage, LiveValues, OutagePart,
    Outcome, RestoreData, Run, RunKind, RunMeta, RunSettings, SCHEMA_VERSION, SizingChange,
    SizingSnapshot, Step, StepRecord, StepStatus, Strategy, describe_outage, relative_to,
    sha256_hex,
};
pub use runs::{JOURNAL_FILE, Listing, find, list, runs_dir, unfinished};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file is not a journal xzup can read.
    #[error("the journal `{}` is damaged: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    /// Written by a newer xzup.
    #[error(
        "the journal `{}` has format version {found}; this xzup reads up to version {SCHEMA_VERSION}",
        path.display()
    )]
    UnsupportedVersion { path: PathBuf, found: u32 },
    #[error("no run `{id}` in `{}`", runs_dir.display())]
    UnknownRun { id: String, runs_dir: PathBuf },
    /// The engine finished a step it never started: a bug, caught before it is recorded.
    #[error("step `{step}` was finished without being started")]
    NotStarted { step: Step },
}

impl JournalError {
    pub fn hint(&self) -> Option<String> {
        match self {
            // A file where xzup keeps a directory, or the reverse (`.xzup/runs` a file,
            // a `journal.json` a directory): nothing xzup wrote.
            JournalError::Io { path, source, .. }
                if matches!(source.raw_os_error(), Some(libc::ENOTDIR | libc::EISDIR)) =>
            {
                Some(format!(
                    "xzup did not put that there: look at it, then move it out of the way (`mv {} /tmp/`); xzup makes what it needs again",
                    path.display()
                ))
            }
            JournalError::Io { .. } => None,
            JournalError::Corrupt { path, .. } => Some(format!(
                "xzup writes journals atomically, so something else changed this file; look at it, and if that run no longer matters move its directory out of the way: `mv {} /tmp/`",
                fsutil::parent_dir(path).display()
            )),
            JournalError::UnsupportedVersion { .. } => {
                Some("use the newer xzup that wrote it".to_string())
            }
            JournalError::UnknownRun { .. } => {
                Some("`xzup history` lists the runs of this deployment".to_string())
            }
            JournalError::NotStarted { .. } => {
                Some("this is a bug in xzup; please report it".to_string())
            }
        }
    }

    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> JournalError {
        JournalError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A run's journal: the [`Run`] record, and where it is persisted. Every change is
/// written to disk before the method returns. Not `Clone`: two handles writing the same
/// file would each overwrite the other's steps (clone [`Journal::run`] to keep a copy).
#[derive(Debug)]
pub struct Journal {
    run: Run,
    /// `journal.json`.
    path: PathBuf,
    /// The run's secrets, masked in every message stored (not stored themselves).
    redactor: Redactor,
}

impl Journal {
    /// Starts the journal of a new run: creates `STATE_DIR/runs/<run-id>/` (0700) and
    /// writes `journal.json` (0600) with the outcome `in-progress` and no steps.
    pub fn create(state_dir: &Path, meta: RunMeta) -> Result<Journal, JournalError> {
        let started_at = time::now();
        let (id, dir) = runs::create_run_dir(state_dir, &started_at, meta.kind, &meta.tier_to)?;
        let mut journal = Journal::from_meta(id, dir.join(JOURNAL_FILE), meta, started_at);
        journal.save()?;
        Ok(journal)
    }

    fn from_meta(
        id: String,
        path: PathBuf,
        meta: RunMeta,
        started_at: chrono::DateTime<Utc>,
    ) -> Journal {
        let mut journal = Journal {
            run: Run {
                schema: record::schema_for_settings(&meta.settings),
                id,
                kind: meta.kind,
                xzup_version: env!("CARGO_PKG_VERSION").to_string(),
                command: String::new(),
                tier_from: meta.tier_from,
                tier_to: meta.tier_to,
                only: meta.only,
                roles: meta.roles,
                rolls_back: meta.rolls_back,
                undone_by: None,
                project: meta.project,
                compose_flavour: meta.compose_flavour,
                previous_compose: meta.previous_compose,
                new_compose: meta.new_compose,
                tiers_file: meta.tiers_file,
                images_before: BTreeMap::new(),
                kept_images: BTreeMap::new(),
                backup: None,
                settings: meta.settings,
                started_at,
                finished_at: None,
                steps: Vec::new(),
                rollback_reason: None,
                outcome: Outcome::InProgress,
                downtime_ms: None,
                outage: Vec::new(),
                precopy_fallback: None,
                warnings: Vec::new(),
                sizing: None,
                live_before: BTreeMap::new(),
            },
            path,
            redactor: Redactor::default(),
        };
        journal.set_secrets(meta.secrets);
        journal.run.command = journal.redact(&meta.command);
        journal
    }

    /// Reads a journal. A file that is not a journal is [`JournalError::Corrupt`]; one of
    /// a newer format is [`JournalError::UnsupportedVersion`].
    pub fn load(path: &Path) -> Result<Journal, JournalError> {
        let bytes = std::fs::read(path).map_err(|e| JournalError::io("read", path, e))?;
        let corrupt = |e: serde_json::Error| JournalError::Corrupt {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        // The version first, so a newer format is named as such and not as damage.
        #[derive(Deserialize)]
        struct Version {
            schema: u32,
        }
        let version: Version = serde_json::from_slice(&bytes).map_err(corrupt)?;
        if version.schema > SCHEMA_VERSION {
            return Err(JournalError::UnsupportedVersion {
                path: path.to_path_buf(),
                found: version.schema,
            });
        }
        let run: Run = serde_json::from_slice(&bytes).map_err(corrupt)?;
        Ok(Journal {
            run,
            path: path.to_path_buf(),
            redactor: Redactor::default(),
        })
    }

    /// The run as recorded.
    pub fn run(&self) -> &Run {
        &self.run
    }

    pub fn id(&self) -> &str {
        &self.run.id
    }

    /// `journal.json`.
    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The run's directory (a place for the run's own files).
    pub fn run_dir(&self) -> &Path {
        fsutil::parent_dir(&self.path)
    }

    /// Values to redact from every message stored from now on (not stored themselves). A
    /// resumed run sets them again after [`Journal::load`].
    pub fn set_secrets(&mut self, secrets: impl IntoIterator<Item = String>) {
        self.redactor = Redactor::new(secrets);
    }

    /// Shorthands for [`Run`]'s questions, the ones the engine asks.
    pub fn next_step(&self) -> Option<Step> {
        self.run.next_step()
    }

    pub fn step_status(&self, step: Step) -> Option<StepStatus> {
        self.run.step_status(step)
    }

    pub fn is_finished(&self) -> bool {
        self.run.outcome != Outcome::InProgress
    }

    /// Marks `step` started and persists it — call it *before* running the step. Starting
    /// a step again (resume) resets its record and counts the attempt.
    pub fn start(&mut self, step: Step) -> Result<(), JournalError> {
        let now = time::now();
        match self.run.steps.iter_mut().find(|r| r.step == step) {
            Some(record) => {
                record.status = StepStatus::Started;
                record.attempts += 1;
                record.started_at = now;
                record.finished_at = None;
                record.duration_ms = None;
                record.detail = None;
                record.error = None;
                record.ready_ms = None;
            }
            None => self.run.steps.push(StepRecord {
                step,
                status: StepStatus::Started,
                attempts: 1,
                started_at: now,
                finished_at: None,
                duration_ms: None,
                detail: None,
                error: None,
                ready_ms: None,
            }),
        }
        self.save()
    }

    /// Marks a started step done, with what it did for people (redacted here).
    pub fn finish(&mut self, step: Step, detail: Option<&str>) -> Result<(), JournalError> {
        if self.step_status(step) != Some(StepStatus::Started) {
            return Err(JournalError::NotStarted { step });
        }
        let detail = detail.map(|d| self.redact(d));
        self.end_step(step, StepStatus::Done, detail, None)
    }

    /// Marks a step failed with its error (redacted here). A step that failed before it
    /// was started (its own checks refused) is recorded as such.
    pub fn fail(&mut self, step: Step, error: &str) -> Result<(), JournalError> {
        let error = self.redact(error);
        self.end_step(step, StepStatus::Failed, None, Some(error))
    }

    /// Marks a step deliberately not run, and why.
    pub fn skip(&mut self, step: Step, reason: &str) -> Result<(), JournalError> {
        let reason = self.redact(reason);
        self.end_step(step, StepStatus::Skipped, Some(reason), None)
    }

    fn end_step(
        &mut self,
        step: Step,
        status: StepStatus,
        detail: Option<String>,
        error: Option<String>,
    ) -> Result<(), JournalError> {
        let now = time::now();
        if self.run.step(step).is_none() {
            self.run.steps.push(StepRecord {
                step,
                status,
                attempts: 0,
                started_at: now,
                finished_at: None,
                duration_ms: None,
                detail: None,
                error: None,
                ready_ms: None,
            });
        }
        let record = self
            .run
            .steps
            .iter_mut()
            .find(|r| r.step == step)
            .expect("the record exists");
        record.status = status;
        record.finished_at = Some(now);
        record.duration_ms = Some(time::millis_between(&record.started_at, &now));
        record.detail = detail;
        record.error = error;
        self.save()
    }

    /// A pre-copy run backs up directly after all, for `reason`.
    pub fn set_precopy_fallback(&mut self, reason: &str) -> Result<(), JournalError> {
        self.run.precopy_fallback = Some(self.redact(reason));
        self.save()
    }

    /// Records the stack's use before the run and during verify.
    pub fn set_sizing(&mut self, sizing: SizingChange) -> Result<(), JournalError> {
        self.run.sizing = Some(sizing);
        self.save()
    }

    /// Records how long into `step` (started) the stack it brings up was first ready.
    pub fn set_ready(&mut self, step: Step, ready_ms: u64) -> Result<(), JournalError> {
        if let Some(record) = self.run.steps.iter_mut().find(|r| r.step == step) {
            record.ready_ms = Some(ready_ms);
        }
        self.save()
    }

    /// Records that an automatic rollback begins, and why (redacted): from now on
    /// [`Journal::next_step`] walks the rollback steps.
    pub fn begin_rollback(&mut self, reason: &str) -> Result<(), JournalError> {
        self.run.rollback_reason = Some(self.redact(reason));
        self.save()
    }

    /// Ends the run (or, with `InProgress`, reopens it).
    pub fn set_outcome(&mut self, outcome: Outcome) -> Result<(), JournalError> {
        self.run.outcome = outcome;
        self.run.finished_at = (outcome != Outcome::InProgress).then(time::now);
        self.save()
    }

    /// The image ID of each service's container before the run (service → image ID).
    pub fn set_images_before(
        &mut self,
        images: BTreeMap<String, String>,
    ) -> Result<(), JournalError> {
        self.run.images_before = images;
        self.save()
    }

    /// The images the run keeps for the way back (service → kept image).
    pub fn set_kept_images(
        &mut self,
        images: BTreeMap<String, KeptImage>,
    ) -> Result<(), JournalError> {
        self.run.kept_images = images;
        self.save()
    }

    pub fn set_backup(&mut self, backup: BackupRef) -> Result<(), JournalError> {
        self.run.backup = Some(backup);
        self.save()
    }

    /// The role map the run uses (a run whose journal had none: resolved on resume).
    pub fn set_roles(&mut self, roles: RoleMap) -> Result<(), JournalError> {
        self.run.roles = Some(roles);
        self.save()
    }

    pub fn set_project(&mut self, project: &str) -> Result<(), JournalError> {
        self.run.project = Some(project.to_string());
        self.save()
    }

    pub fn set_compose_flavour(&mut self, flavour: &str) -> Result<(), JournalError> {
        self.run.compose_flavour = Some(flavour.to_string());
        self.save()
    }

    /// The run's options, changed by `xzup resume` or `xzup rollback` for the rest of it.
    pub fn set_settings(&mut self, settings: RunSettings) -> Result<(), JournalError> {
        self.run.settings = settings;
        self.save()
    }

    /// A live run's values before it changed them (see [`Run::live_before`]).
    pub fn set_live_before(
        &mut self,
        values: BTreeMap<String, LiveValues>,
    ) -> Result<(), JournalError> {
        self.run.live_before = values;
        self.save()
    }

    /// Records that a later manual rollback (`run_id`) undid this run.
    pub fn set_undone_by(&mut self, run_id: &str) -> Result<(), JournalError> {
        self.run.undone_by = Some(run_id.to_string());
        self.save()
    }

    /// Adds a warning (redacted) for the closing summary and `xzup history`.
    pub fn warn(&mut self, warning: &str) -> Result<(), JournalError> {
        let warning = self.redact(warning);
        self.run.warnings.push(warning);
        self.save()
    }

    /// Writes the journal (no-op for a dry run). Every setter calls it; the downtime is
    /// brought up to date from the step times first.
    fn save(&mut self) -> Result<(), JournalError> {
        self.run.downtime_ms = self.run.downtime_ms();
        self.run.outage = self
            .run
            .outage_parts()
            .unwrap_or_default()
            .into_iter()
            .map(|(step, ms)| OutagePart { step, ms })
            .collect();
        let path = &self.path;
        let mut bytes = serde_json::to_vec_pretty(&self.run).expect("a run serialises");
        bytes.push(b'\n');
        fsutil::write_atomic(path, &bytes, 0o600).map_err(|e| JournalError::io("write", path, e))
    }

    /// `text` with every secret masked.
    fn redact(&self, text: &str) -> String {
        self.redactor.redact(text)
    }
}

#[cfg(test)]
mod tests;
