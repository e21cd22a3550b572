//! Where the engine reports what it does ([`Observer`]); the command layer prints it. The
//! core never prints.

use std::time::Duration;

use crate::backup::{Phase, ProgressSink};
use crate::journal::Step;

use super::hooks::{self, Point};

/// What a run tells the operator while it happens.
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

/// Hands the progress of a backup or a restore to the observer, and says whether it should
/// stop: an upgrade step stops on Ctrl-C (the rollback follows); a rollback step stops only
/// on a *second* Ctrl-C (the first one started the rollback), at a point where the data is
/// safe — the restore stops before it swaps anything in, or after it swapped everything.
/// It also reaches the step's middle test hook ([`hooks::MIDDLES`]).
pub(super) struct ObserverProgress<'a> {
    pub observer: &'a mut dyn Observer,
    pub stop_requested: fn() -> bool,
    /// The step whose middle this progress reaches, once.
    middle: Option<Step>,
    phase: Option<Phase>,
    total: u64,
    done: u64,
}

impl<'a> ObserverProgress<'a> {
    /// For an upgrade step: stops when the run's stop was requested.
    pub fn interruptible(observer: &'a mut dyn Observer, stop_requested: fn() -> bool) -> Self {
        ObserverProgress {
            observer,
            stop_requested,
            middle: None,
            phase: None,
            total: 0,
            done: 0,
        }
    }

    /// For a rollback step: stops on a second Ctrl-C only (`stop_again`).
    pub fn rollback(observer: &'a mut dyn Observer, stop_again: fn() -> bool) -> Self {
        ObserverProgress::interruptible(observer, stop_again)
    }

    /// The progress of `step`, which reaches [`Point::Middle`] of it: half of the
    /// archive's bytes written (`backup`, `archive`), the first data path swapped in (a restore).
    pub fn middle_of(mut self, step: Step) -> Self {
        debug_assert!(hooks::MIDDLES.contains(&step), "{step} has no middle");
        self.middle = Some(step);
        self
    }

    fn reach_middle(&mut self) {
        if let Some(step) = self.middle.take() {
            hooks::reached(Point::Middle(step), self.stop_requested);
        }
    }
}

impl ProgressSink for ObserverProgress<'_> {
    fn phase(&mut self, phase: Phase, total_bytes: u64) {
        self.phase = Some(phase);
        (self.total, self.done) = (total_bytes, 0);
        self.observer.progress_phase(phase.label(), total_bytes);
    }
    fn advance(&mut self, bytes: u64) {
        self.done += bytes;
        self.observer.progress(bytes);
        if matches!(self.middle, Some(Step::Backup | Step::Archive))
            && self.phase == Some(Phase::Write)
            && self.done * 2 >= self.total
        {
            self.reach_middle();
        }
    }
    fn swapped(&mut self, _root: &str) {
        if self.middle == Some(Step::RollbackRestoreData) {
            self.reach_middle();
        }
    }
    fn stop_requested(&self) -> bool {
        (self.stop_requested)()
    }
}
