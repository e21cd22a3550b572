//! The engine's errors, and the one rule that sorts what goes wrong inside a run.
//!
//! A step ends done, or with a [`StepError`] of one of two kinds:
//!
//! - [`StepError::Failed`]: the step's own work failed (a Docker call, the backup, a check,
//!   a file it writes). That is the run's failure: the loop rolls back (after `down`) or
//!   ends the run with nothing changed (a step that changes nothing, like preflight).
//! - [`StepError::Unrecorded`]: what the run records — its journal, the deployment's state —
//!   could not be written. That is not the step's failure, and no reason to start a
//!   rollback whose own steps could not be recorded either: the run stops where it is
//!   ([`UpgradeError::Stopped`]), and says so. The loop's own journal writes (started, done,
//!   failed, the outcome) follow the same rule.
//!
//! Which error is which is decided here, once, by type: the `From` impls below. A step uses
//! `?` and never chooses.

use std::path::PathBuf;

use crate::backup::BackupError;
use crate::compose::ComposeError;
use crate::docker::DockerError;
use crate::exit::ExitStatus;
use crate::journal::JournalError;

/// Why a step failed: a message for people (already redacted by the driver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StepFailure(pub String);

/// What the run records that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// `.xzup/state.json`, which names the active compose file.
    #[error("cannot write the deployment's state in `{}`: {source}", dir.display())]
    State {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How a step ends when it does not finish (see the module doc for the rule).
#[derive(Debug)]
pub(super) enum StepError {
    /// The step's own work failed.
    Failed(StepFailure),
    /// The journal or the state could not be written: the run stops where it is.
    Unrecorded(RecordError),
}

impl StepError {
    /// A failure of the step's own, in words.
    pub fn failed(message: impl Into<String>) -> StepError {
        StepError::Failed(StepFailure(message.into()))
    }
}

impl From<StepFailure> for StepError {
    fn from(failure: StepFailure) -> StepError {
        StepError::Failed(failure)
    }
}

impl From<RecordError> for StepError {
    fn from(e: RecordError) -> StepError {
        StepError::Unrecorded(e)
    }
}

impl From<JournalError> for StepError {
    fn from(e: JournalError) -> StepError {
        StepError::Unrecorded(RecordError::Journal(e))
    }
}

/// The errors of the step's own work: each a [`StepError::Failed`] with its message.
macro_rules! step_failures {
    ($($error:ty),* $(,)?) => {$(
        impl From<$error> for StepError {
            fn from(e: $error) -> StepError {
                StepError::failed(e.to_string())
            }
        }
    )*};
}

step_failures!(DockerError, ComposeError, BackupError, std::io::Error);

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
    #[error("{step}: {message}")]
    NothingChanged {
        step: String,
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
    /// The journal or the state could not be written during a run: it stopped where it
    /// was, without rolling back.
    #[error(
        "run `{run}` stopped at `{step}`: {source}\nnothing was rolled back; the journal may not show the last thing the run did"
    )]
    Stopped {
        run: String,
        step: String,
        source: RecordError,
    },
    /// A second Ctrl-C stopped the rollback the first one started, at a safe point: the
    /// journal says where it stands, and `resume` or `rollback` finishes it.
    #[error(
        "interrupted again: the rollback of run `{run}` stopped before `{step}` finished; the data is safe (the journal says where things stand)"
    )]
    InterruptedAgain { run: String, step: String },
    /// The journal could not be read or written outside a run (nothing changed yet).
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// The deployment could not be read for the run (its roles, say).
    #[error(transparent)]
    Deployment(#[from] crate::deployment::DeploymentError),
}

impl UpgradeError {
    pub fn hint(&self) -> Option<String> {
        match self {
            UpgradeError::NothingChanged { hint, .. } => hint.clone(),
            UpgradeError::Unfinished { .. } => Some(
                "finish it with `xzup resume`, or undo it with `xzup rollback`; `xzup status` shows where it stands"
                    .into(),
            ),
            UpgradeError::NothingToResume => Some("`xzup history` lists the runs".into()),
            UpgradeError::NothingToRollBack(_) => Some("`xzup history` lists the runs".into()),
            UpgradeError::RolledBack { run, .. } => Some(format!(
                "the backup and the journal of run `{run}` are kept; `xzup history` shows what happened"
            )),
            UpgradeError::RollbackFailed(failed) => Some(rerun_rollback(&failed.run)),
            UpgradeError::ManualRollbackFailed { run, .. } => Some(rerun_rollback(run)),
            UpgradeError::Stopped { step, .. } => Some(format!(
                "fix the cause (free disk space, the permissions of `.xzup/`), look at `xzup status`, then `xzup resume` to go on from `{step}` or `xzup rollback` to undo the run"
            )),
            UpgradeError::InterruptedAgain { .. } => Some(
                "interrupted again: run `xzup resume` or `xzup rollback` to bring the old stack back; `xzup status` shows where it stands"
                    .into(),
            ),
            UpgradeError::Journal(e) => e.hint(),
            UpgradeError::Lock(e) => e.hint(),
            UpgradeError::Deployment(e) => e.hint(),
        }
    }

    pub fn exit_status(&self) -> ExitStatus {
        match self {
            UpgradeError::RolledBack { .. } => ExitStatus::RolledBack,
            UpgradeError::RollbackFailed(_) | UpgradeError::ManualRollbackFailed { .. } => {
                ExitStatus::RollbackFailed
            }
            UpgradeError::Deployment(e) if e.is_usage() => ExitStatus::Usage,
            UpgradeError::InterruptedAgain { .. } => ExitStatus::Interrupted,
            _ => ExitStatus::Failure,
        }
    }
}

/// What to do after a rollback failed: it continues where it stopped.
fn rerun_rollback(run: &str) -> String {
    format!(
        "fix the cause above, then run `xzup rollback` again (it continues run `{run}` where it stopped); `xzup status` shows the containers"
    )
}
