//! Where the engine reports what it does ([`Observer`]); the command layer prints it. The
//! core never prints.

use std::time::Duration;

use crate::backup::{Phase, ProgressSink};
use crate::journal::Step;

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
/// stop: an upgrade step stops on Ctrl-C (the rollback follows), a rollback step never —
/// the first Ctrl-C started the rollback, and a restore stopped half-way would leave the
/// stack without its data.
pub(super) struct ObserverProgress<'a> {
    pub observer: &'a mut dyn Observer,
    pub stop_requested: fn() -> bool,
}

impl<'a> ObserverProgress<'a> {
    /// For an upgrade step: stops when the run's stop was requested.
    pub fn interruptible(observer: &'a mut dyn Observer, stop_requested: fn() -> bool) -> Self {
        ObserverProgress {
            observer,
            stop_requested,
        }
    }

    /// For a rollback step: runs to the end.
    pub fn to_the_end(observer: &'a mut dyn Observer) -> Self {
        ObserverProgress {
            observer,
            stop_requested: || false,
        }
    }
}

impl ProgressSink for ObserverProgress<'_> {
    fn phase(&mut self, phase: Phase, total_bytes: u64) {
        self.observer.progress_phase(phase.label(), total_bytes);
    }
    fn advance(&mut self, bytes: u64) {
        self.observer.progress(bytes);
    }
    fn stop_requested(&self) -> bool {
        (self.stop_requested)()
    }
}
