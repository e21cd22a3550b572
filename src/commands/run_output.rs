//! How a run looks while it happens: one line per step with its duration, a spinner while
//! waiting, the backup's progress bar, warnings; and the closing summary.

use std::time::Duration;

use crate::journal::{Outcome, Run, Step};
use crate::printer::{Printer, Progress, Spinner, Style};
use crate::upgrade::Observer;

/// Prints the engine's events through the printer (stderr; stdout keeps the result).
pub(crate) struct StepPrinter<'p> {
    printer: &'p Printer,
    spinner: Option<Spinner>,
    progress: Option<Progress>,
}

impl<'p> StepPrinter<'p> {
    pub(crate) fn new(printer: &'p Printer) -> StepPrinter<'p> {
        StepPrinter {
            printer,
            spinner: None,
            progress: None,
        }
    }

    fn settle(&mut self) {
        self.spinner = None;
        if let Some(progress) = self.progress.take() {
            progress.finish();
        }
    }

    fn line(&self, step: Step, mark: &str, style: Style, elapsed: Option<Duration>, text: &str) {
        let mark = self.printer.paint_err(&format!("{mark:<7}"), style);
        let time = elapsed.map_or(String::new(), |d| format!("{:.1}s", d.as_secs_f64()));
        self.printer
            .info(format_args!("{mark} {:<22} {time:>7}  {text}", step.name()));
    }
}

impl Observer for StepPrinter<'_> {
    fn step_started(&mut self, step: Step) {
        self.settle();
        self.spinner = Some(self.printer.spinner(step.name()));
    }

    fn step_done(&mut self, step: Step, elapsed: Duration, detail: &str) {
        self.settle();
        self.line(step, "ok", Style::Good, Some(elapsed), detail);
    }

    fn step_skipped(&mut self, step: Step, reason: &str) {
        self.settle();
        self.line(step, "skipped", Style::Dim, None, reason);
    }

    fn step_failed(&mut self, step: Step, elapsed: Duration, error: &str) {
        self.settle();
        self.line(step, "FAILED", Style::Error, Some(elapsed), error);
    }

    fn warning(&mut self, message: &str) {
        self.printer.warn(message);
    }

    fn waiting(&mut self, message: &str) {
        match &self.spinner {
            Some(spinner) => spinner.set_message(message),
            None => self.printer.info(format_args!("        {message} ...")),
        }
    }

    fn progress_phase(&mut self, label: &str, total: u64) {
        self.spinner = None;
        if let Some(progress) = self.progress.take() {
            progress.finish();
        }
        self.progress = Some(self.printer.progress_bytes(label, total));
    }

    fn progress(&mut self, bytes: u64) {
        if let Some(progress) = &mut self.progress {
            progress.inc(bytes);
        }
    }
}

/// The closing lines: outcome, downtime, backup, run id. JSON: the journal's record.
pub(crate) fn summary(printer: &Printer, run: &Run) {
    if printer.is_json() {
        printer.json(&serde_json::to_value(run).expect("a run serialises"));
        return;
    }
    let downtime = run.downtime_ms.map_or("unknown".to_string(), |ms| {
        format!("{:.1}s", ms as f64 / 1000.0)
    });
    let total = run
        .finished_at
        .map(|end| (end - run.started_at).num_milliseconds() as f64 / 1000.0)
        .map_or(String::new(), |s| format!(" in {s:.1}s"));
    let headline = match (run.kind, run.outcome) {
        (crate::journal::RunKind::Apply, Outcome::Succeeded) => {
            format!("Upgraded {} -> {}{total}", run.tier_from, run.tier_to)
        }
        (crate::journal::RunKind::Rollback, Outcome::Succeeded) => {
            format!("Rolled back {} -> {}{total}", run.tier_from, run.tier_to)
        }
        (_, Outcome::RolledBack) => format!("Upgrade failed; back on {}{total}", run.tier_from),
        (_, outcome) => format!("Run ended: {}", outcome.name()),
    };
    printer.out(printer.paint(&headline, Style::Bold));
    printer.out(format_args!("  downtime: {downtime}"));
    if let Some(backup) = &run.backup {
        printer.out(format_args!(
            "  backup:   {} ({}{})",
            backup.path.display(),
            crate::units::human_bytes(backup.size),
            if backup.verified { ", verified" } else { "" }
        ));
    }
    printer.out(format_args!("  run:      {} (see `xzup history`)", run.id));
    for warning in &run.warnings {
        printer.out(format_args!("  warning:  {warning}"));
    }
}
