//! The step engine: `apply`, `resume`, automatic and manual `rollback`.
//!
//! A run is a journaled sequence of steps (see [`crate::journal`]): each is marked
//! *started* before it runs and *done* after, so a crash at any point leaves a journal that
//! says where things stand. Every step is idempotent; `resume` redoes a step that started
//! and did not finish. When a step after `down` fails (or the operator presses Ctrl-C),
//! the rollback steps run the same way and bring the old stack back.
//!
//! The rollback paths are exercised end to end against a real engine in
//! `tests/xzup/e2e_upgrade.rs` (automatic rollback, kill -9 and resume, manual rollback).
//!
//! - [`run`] owns the loop: lock, journal bookkeeping, failure → rollback, outcome.
//! - [`steps`] does the apply steps, [`rollback`] the rollback steps, [`preflight`] the
//!   checks before anything changes.

mod preflight;
mod rollback;
mod run;
mod steps;

use std::path::PathBuf;
use std::time::Duration;

pub use run::{RunRequest, Summary, apply, resume, rollback_run};

use crate::exit::ExitStatus;
use crate::journal::Step;

/// Where the engine reports what it does; the command layer prints it. The core never prints.
pub trait Observer {
    /// A step begins.
    fn step_started(&mut self, step: Step);
    /// A step finished; `detail` is a short summary for the step's line.
    fn step_done(&mut self, step: Step, elapsed: Duration, detail: &str);
    /// A step was skipped (already done in an earlier attempt, or not needed).
    fn step_skipped(&mut self, step: Step, reason: &str);
    /// A step failed.
    fn step_failed(&mut self, step: Step, elapsed: Duration, error: &str);
    /// Something the operator should know; the run goes on.
    fn warning(&mut self, message: &str);
    /// A long wait begins (a spinner on a terminal); ends with the step.
    fn waiting(&mut self, message: &str);
    /// The backup's progress: a phase (`backup`, `verify`, `restore`) and its byte total.
    fn progress_phase(&mut self, label: &str, total: u64);
    /// More bytes done in the current phase.
    fn progress(&mut self, bytes: u64);
}

/// An upgrade that failed, and a rollback that failed too (boxed in [`UpgradeError`]).
#[derive(Debug)]
pub struct FailedRollback {
    pub run: String,
    pub step: String,
    pub cause: String,
    pub rollback_step: String,
    pub rollback_cause: String,
    pub state: String,
}

impl std::fmt::Display for FailedRollback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the upgrade stopped at `{}`: {}\nthe rollback failed too, at `{}`: {}\n{}",
            self.step, self.cause, self.rollback_step, self.rollback_cause, self.state
        )
    }
}

/// Why a run did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// A check before anything changed failed.
    #[error("preflight: {message}")]
    Preflight {
        message: String,
        hint: Option<String>,
    },
    /// Another run is unfinished in this deployment.
    #[error("run `{run}` is unfinished (it stopped at `{step}`)")]
    Unfinished { run: String, step: String },
    /// `resume` with nothing to resume.
    #[error("there is no unfinished run to resume")]
    NothingToResume,
    /// `rollback` with nothing to roll back.
    #[error("{0}")]
    NothingToRollBack(String),
    /// The upgrade failed, and the old stack is back and healthy.
    #[error(
        "the upgrade failed at `{step}`: {cause}\nthe old stack is back: {file} is active and every service is healthy"
    )]
    RolledBack {
        run: String,
        step: String,
        cause: String,
        file: PathBuf,
    },
    /// The upgrade failed, and so did the rollback.
    #[error("{0}")]
    RollbackFailed(Box<FailedRollback>),
    /// A requested rollback failed.
    #[error("the rollback failed at `{step}`: {cause}\n{state}")]
    ManualRollbackFailed {
        run: String,
        step: String,
        cause: String,
        state: String,
    },
    /// The journal could not be written: the run stops where it is.
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
}

impl UpgradeError {
    pub fn hint(&self) -> Option<String> {
        match self {
            UpgradeError::Preflight { hint, .. } => hint.clone(),
            UpgradeError::Unfinished { .. } => Some(
                "finish it with `xzup resume`, or undo it with `xzup rollback`; `xzup status` shows where it stands"
                    .into(),
            ),
            UpgradeError::NothingToResume => Some("`xzup history` lists the runs".into()),
            UpgradeError::NothingToRollBack(_) => Some("`xzup history` lists the runs".into()),
            UpgradeError::RolledBack { run, .. } => Some(format!(
                "the backup and the journal of run `{run}` are kept; `xzup history` shows what happened"
            )),
            UpgradeError::RollbackFailed(_) | UpgradeError::ManualRollbackFailed { .. } => Some(
                "fix the cause above, then run `xzup rollback` again (it continues where it stopped); `xzup status` shows the containers"
                    .into(),
            ),
            UpgradeError::Journal(e) => e.hint(),
            UpgradeError::Lock(e) => e.hint(),
        }
    }

    pub fn exit_status(&self) -> ExitStatus {
        match self {
            UpgradeError::RolledBack { .. } => ExitStatus::RolledBack,
            UpgradeError::RollbackFailed(_) | UpgradeError::ManualRollbackFailed { .. } => {
                ExitStatus::RollbackFailed
            }
            _ => ExitStatus::Failure,
        }
    }
}
