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

/// Hands the progress of a backup or a restore to the observer.
pub(super) struct ObserverProgress<'a>(pub &'a mut dyn Observer);

impl ProgressSink for ObserverProgress<'_> {
    fn phase(&mut self, phase: Phase, total_bytes: u64) {
        self.0.progress_phase(phase.label(), total_bytes);
    }
    fn advance(&mut self, bytes: u64) {
        self.0.progress(bytes);
    }
}
