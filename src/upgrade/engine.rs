//! The loop: walks a [`Sequence`] with the journal's bookkeeping — each step *started*
//! before it runs, *done* or *failed* after, the observer told — skips what an earlier
//! attempt completed (so a step started and not done is redone), and on a failure switches
//! to the rollback steps. It decides the outcome: succeeded, failed with nothing changed,
//! rolled back (exit 3), rollback failed (exit 4) with the state named, or stopped because
//! the journal could not be written (see [`super::error`] for that rule).
//!
//! It knows steps only through [`Step`] and never calls Docker itself, so its unit tests
//! (`tests.rs`) drive it with scripted steps.

use std::path::PathBuf;
use std::time::Instant;

use crate::journal::{self, Outcome, Run, RunKind, StepStatus};

use super::context::Ctx;
use super::error::{FailedRollback, RecordError, StepError, StepFailure, UpgradeError};
use super::hooks::{self, Point};
use super::step::{Sequence, Step};

/// Which part of a run the loop walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The upgrade's steps: Ctrl-C stops them (the rollback follows).
    Apply,
    /// The rollback's steps: the first Ctrl-C does not stop them; a second one does, at the
    /// next safe point (see [`crate::interrupt`]).
    Rollback,
}

/// Runs the journal's remaining steps of `sequence`; on a failure after a step that
/// changes something, the rollback steps.
pub(super) fn drive(ctx: &mut Ctx<'_>, sequence: &Sequence<'_>) -> Result<(), UpgradeError> {
    if ctx.run().kind == RunKind::Apply && ctx.run().rollback_reason.is_none() {
        let Some((step, failure)) = walk(ctx, sequence.apply, Phase::Apply)? else {
            let last = last_id(sequence.apply);
            return or_stop(ctx.journal.set_outcome(Outcome::Succeeded), ctx, last);
        };
        let id = step.id();
        if step.changes_nothing() {
            or_stop(ctx.journal.set_outcome(Outcome::Failed), ctx, id)?;
            return Err(UpgradeError::NothingChanged {
                step: id.name().to_string(),
                message: failure.0,
                hint: Some(
                    "nothing was changed; fix the cause, or pass --force to override the host checks"
                        .into(),
                ),
            });
        }
        let reason = format!("{} failed: {}", id.name(), failure.0);
        or_stop(ctx.journal.begin_rollback(&reason), ctx, id)?;
    }
    match walk(ctx, sequence.rollback, Phase::Rollback)? {
        None => rolled_back(ctx, last_id(sequence.rollback)),
        Some((step, failure)) => Err(rollback_failed(ctx, step, failure)?),
    }
}

/// Runs each step of `steps` not complete in the journal, in order, until one fails.
fn walk<'s>(
    ctx: &mut Ctx<'_>,
    steps: &[&'s dyn Step],
    phase: Phase,
) -> Result<Option<(&'s dyn Step, StepFailure)>, UpgradeError> {
    for &step in steps {
        let done = ctx
            .journal
            .step_status(step.id())
            .is_some_and(StepStatus::is_complete);
        if done {
            continue;
        }
        // A second Ctrl-C stops the rollback between its steps, or when a step gave up
        // because of it (a restore stops before it swaps anything in): the journal is left
        // in progress, for `resume` or `rollback` to finish.
        let again = |ctx: &Ctx<'_>| phase == Phase::Rollback && (ctx.stop_again)();
        if again(ctx) {
            return Err(interrupted_again(ctx, step.id()));
        }
        if let Err(failure) = run_one(ctx, step, phase)? {
            if again(ctx) {
                return Err(interrupted_again(ctx, step.id()));
            }
            return Ok(Some((step, failure)));
        }
    }
    Ok(None)
}

/// Runs one step with its bookkeeping: *started* in the journal before, *done* (or
/// *failed*) after, and the observer told. `Ok(Err(_))` is the step's own failure.
fn run_one(
    ctx: &mut Ctx<'_>,
    step: &dyn Step,
    phase: Phase,
) -> Result<Result<(), StepFailure>, UpgradeError> {
    let id = step.id();
    if let Some(reason) = step.skip_reason(ctx) {
        or_stop(ctx.journal.skip(id, &reason), ctx, id)?;
        ctx.observer.step_skipped(id, &reason);
        return Ok(Ok(()));
    }
    or_stop(ctx.journal.start(id), ctx, id)?;
    ctx.observer.step_started(id);
    let started = Instant::now();
    // A pause there ends on the Ctrl-C that would stop this phase.
    let stop_fn = match phase {
        Phase::Apply => ctx.stop_requested,
        Phase::Rollback => ctx.stop_again,
    };
    hooks::reached(Point::Started(id), stop_fn);
    let interrupted = || StepError::failed("interrupted by the operator");
    let stop = |ctx: &Ctx<'_>| phase == Phase::Apply && (ctx.stop_requested)();
    let result = if stop(ctx) {
        Err(interrupted())
    } else {
        step.run(ctx)
    };
    let result = match result {
        Ok(_) if stop(ctx) => Err(interrupted()),
        other => other,
    };
    match result {
        Ok(detail) => match ctx.journal.finish(id, Some(&detail)) {
            Ok(()) => {
                ctx.observer.step_done(id, started.elapsed(), &detail);
                hooks::reached(Point::Done(id), stop_fn);
                Ok(Ok(()))
            }
            Err(e) => Err(not_recorded(ctx, id, started, e.into())),
        },
        Err(StepError::Failed(failure)) => match ctx.journal.fail(id, &failure.0) {
            Ok(()) => {
                ctx.observer.step_failed(id, started.elapsed(), &failure.0);
                Ok(Err(failure))
            }
            Err(e) => Err(not_recorded(ctx, id, started, e.into())),
        },
        Err(StepError::Unrecorded(source)) => Err(not_recorded(ctx, id, started, source)),
    }
}

fn interrupted_again(ctx: &Ctx<'_>, step: journal::Step) -> UpgradeError {
    UpgradeError::InterruptedAgain {
        run: ctx.run().id.clone(),
        step: step.name().to_string(),
    }
}

/// What a step did could not be recorded: its line says why, and the run stops at it.
fn not_recorded(
    ctx: &mut Ctx<'_>,
    step: journal::Step,
    started: Instant,
    source: RecordError,
) -> UpgradeError {
    ctx.observer
        .step_failed(step, started.elapsed(), &source.to_string());
    stopped(ctx, step, source)
}

/// Every rollback step is done: the old stack is back.
fn rolled_back(ctx: &mut Ctx<'_>, last: journal::Step) -> Result<(), UpgradeError> {
    match ctx.run().kind {
        RunKind::Apply => {
            or_stop(ctx.journal.set_outcome(Outcome::RolledBack), ctx, last)?;
            let (step, cause) = original_failure(ctx.run());
            Err(UpgradeError::RolledBack {
                run: ctx.run().id.clone(),
                step,
                cause,
                file: PathBuf::from(file_to_return_to(ctx).unwrap_or_default()),
            })
        }
        RunKind::Rollback => {
            or_stop(ctx.journal.set_outcome(Outcome::Succeeded), ctx, last)?;
            if let Some(original) = ctx.run().rolls_back.clone() {
                let state_dir = ctx.dir.join(crate::state::STATE_DIR);
                let id = ctx.run().id.clone();
                let marked = journal::find(&state_dir, &original)
                    .and_then(|mut journal| journal.set_undone_by(&id));
                or_stop(marked, ctx, last)?;
            }
            Ok(())
        }
    }
}

/// A rollback step failed: the run ends *rollback failed*, with the state things are in.
fn rollback_failed(
    ctx: &mut Ctx<'_>,
    step: &dyn Step,
    failure: StepFailure,
) -> Result<UpgradeError, UpgradeError> {
    let id = step.id();
    or_stop(ctx.journal.set_outcome(Outcome::RollbackFailed), ctx, id)?;
    let state = describe_state(ctx, step);
    let run = ctx.run();
    Ok(match run.kind {
        RunKind::Apply => {
            let (failed, cause) = original_failure(run);
            UpgradeError::RollbackFailed(Box::new(FailedRollback {
                run: run.id.clone(),
                step: failed,
                cause,
                rollback_step: id.name().to_string(),
                rollback_cause: failure.0,
                state,
            }))
        }
        RunKind::Rollback => UpgradeError::ManualRollbackFailed {
            run: run.id.clone(),
            step: id.name().to_string(),
            cause: failure.0,
            state,
        },
    })
}

/// The upgrade step that failed and why (from the journal).
fn original_failure(run: &Run) -> (String, String) {
    match run
        .steps
        .iter()
        .find(|r| !r.step.is_rollback() && r.error.is_some())
    {
        Some(record) => (
            record.step.name().to_string(),
            record.error.clone().unwrap_or_default(),
        ),
        None => (
            run.steps
                .iter()
                .rev()
                .find(|r| !r.step.is_rollback())
                .map_or("preflight".to_string(), |r| r.step.name().to_string()),
            run.rollback_reason.clone().unwrap_or_default(),
        ),
    }
}

/// What state things are in after the rollback step `step` failed, and what to run.
fn describe_state(ctx: &Ctx<'_>, step: &dyn Step) -> String {
    let back_to = file_to_return_to(ctx).unwrap_or_else(|| "the previous compose file".into());
    let backup = ctx
        .run()
        .backup
        .as_ref()
        .map(|b| format!("the backup {} is kept", b.path.display()))
        .unwrap_or_else(|| "no backup was taken".into());
    format!(
        "state: {}; {backup}; the file to return to is {back_to}",
        step.state_if_failed()
    )
}

/// The compose file the rollback returns to, as the operator reads it.
fn file_to_return_to(ctx: &Ctx<'_>) -> Option<String> {
    let file = ctx.run().rollback_target()?;
    Some(ctx.rel(&ctx.abs(&file.path)))
}

fn last_id(steps: &[&dyn Step]) -> journal::Step {
    steps
        .last()
        .map_or(journal::Step::Preflight, |step| step.id())
}

/// A journal write of the loop's own: a failure stops the run at `step`.
fn or_stop<T>(
    result: Result<T, journal::JournalError>,
    ctx: &Ctx<'_>,
    step: journal::Step,
) -> Result<T, UpgradeError> {
    result.map_err(|e| stopped(ctx, step, e.into()))
}

fn stopped(ctx: &Ctx<'_>, step: journal::Step, source: RecordError) -> UpgradeError {
    UpgradeError::Stopped {
        run: ctx.run().id.clone(),
        step: step.name().to_string(),
        source,
    }
}
