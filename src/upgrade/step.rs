//! The one interface the loop drives: a [`Step`] does its work on the [`Ctx`] and says what
//! a failure of it means; a [`Sequence`] is the steps of a run in order. The steps
//! themselves live in `steps/`, one file each, and know nothing of the loop.

use crate::journal;

use super::context::Ctx;
use super::error::StepError;

/// A step of a run. The loop journals it *started* before [`Step::run`] and *done* (or
/// *failed*) after, so every step must be idempotent: a resume runs a step again that
/// started and did not finish.
pub(super) trait Step {
    /// The step's name in the journal.
    fn id(&self) -> journal::Step;

    /// Why the step has nothing to do in this run, when the journal alone says so (a
    /// rollback of a run that never stopped the stack has nothing to start). The loop then
    /// records it *skipped* with the reason and does not run it.
    fn skip_reason(&self, _ctx: &Ctx<'_>) -> Option<String> {
        None
    }

    /// Does the step's work; returns the detail for its line (`project `x` stopped`).
    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError>;

    /// Whether the deployment is still as it was when this step fails (a check before any
    /// change): the run then ends *failed* with nothing to roll back, instead of rolling
    /// back.
    fn changes_nothing(&self) -> bool {
        false
    }

    /// For a rollback step: what state things are in when it fails, for the message that
    /// says what to run next.
    fn state_if_failed(&self) -> &'static str {
        "the stack is in an unknown state (`xzup status` shows the containers)"
    }
}

/// The steps of a run, in order: what the loop walks. A strategy is a sequence.
pub(super) struct Sequence<'s> {
    /// The steps of an upgrade.
    pub apply: &'s [&'s dyn Step],
    /// The steps that bring the old stack back: after an upgrade step failed, or alone for
    /// `xzup rollback` of a finished upgrade.
    pub rollback: &'s [&'s dyn Step],
}
