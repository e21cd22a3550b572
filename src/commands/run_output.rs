//! How a run looks while it happens: one line per step with its duration, a spinner while
//! waiting, the backup's progress bar, warnings; and the closing summary. Also the progress
//! of the long operations outside a run (`backup`, `backups verify`, `restore`).

use std::time::Duration;

use crate::backup::{Phase, ProgressSink};
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
        printer.json(run);
        return;
    }
    let downtime = run.downtime_ms.map_or("unknown".to_string(), |ms| {
        if run.outage.is_empty() {
            format!("{:.1}s", ms as f64 / 1000.0)
        } else {
            format!(
                "{:.1}s ({})",
                ms as f64 / 1000.0,
                crate::journal::describe_outage(&run.outage)
            )
        }
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

/// Progress of the core's backups and restores, shown through the printer: one bar (or line
/// series) per phase.
pub(crate) struct BarProgress<'a> {
    printer: &'a Printer,
    bar: Option<Progress>,
}

impl<'a> BarProgress<'a> {
    pub(crate) fn new(printer: &'a Printer) -> BarProgress<'a> {
        BarProgress { printer, bar: None }
    }

    pub(crate) fn finish(mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}

impl ProgressSink for BarProgress<'_> {
    fn phase(&mut self, phase: Phase, total_bytes: u64) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
        self.bar = Some(self.printer.progress_bytes(phase.label(), total_bytes));
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(bar) = &mut self.bar {
            bar.inc(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printer::{Captured, Format, Verbosity};

    /// A rollback run as its journal records it.
    fn rollback_run() -> Run {
        serde_json::from_value(serde_json::json!({
            "schema": 1,
            "id": "20261124-110000-rollback-seed",
            "kind": "rollback",
            "xzup_version": "0.1.0",
            "command": "xzup rollback",
            "tier_from": "grow",
            "tier_to": "seed",
            "backup": { "path": "backups/backup-1.tar.gz", "size": 2048, "sha256": null, "verified": true },
            "started_at": "2026-11-24T11:00:00.000Z",
            "finished_at": "2026-11-24T11:00:12.500Z",
            "steps": [],
            "outcome": "succeeded",
            "downtime_ms": 9300,
            "warnings": ["the web container took 9s to stop"]
        }))
        .expect("a journal")
    }

    #[test]
    fn summary_says_how_the_run_ended() {
        let (printer, captured) = Captured::printer(Format::Text, Verbosity::Normal);
        summary(&printer, &rollback_run());
        assert_eq!(
            captured.stdout(),
            "Rolled back grow -> seed in 12.5s
  downtime: 9.3s
  backup:   backups/backup-1.tar.gz (2K, verified)
  run:      20261124-110000-rollback-seed (see `xzup history`)
  warning:  the web container took 9s to stop
"
        );
        assert_eq!(captured.stderr(), "");
    }

    #[test]
    fn summary_in_json_is_the_run_record() {
        let (printer, captured) = Captured::printer(Format::Json, Verbosity::Normal);
        let run = rollback_run();
        summary(&printer, &run);
        let doc: serde_json::Value = serde_json::from_str(&captured.stdout()).unwrap();
        assert_eq!(doc, serde_json::to_value(&run).unwrap());
    }

    #[test]
    fn steps_print_one_line_each_on_stderr() {
        let (printer, captured) = Captured::printer(Format::Text, Verbosity::Normal);
        let mut steps = StepPrinter::new(&printer);
        steps.step_started(Step::Down);
        // Off a terminal the spinner is the `down ...` line; what it waits for is not repeated.
        steps.waiting("stopping the stack");
        steps.warning("slow");
        steps.step_done(
            Step::Down,
            Duration::from_millis(1200),
            "stopped 4 containers",
        );
        steps.step_skipped(Step::Backup, "already done");
        steps.step_failed(Step::Up, Duration::from_secs(3), "boom");
        drop(steps);
        assert_eq!(
            captured.stderr(),
            "down ...
warning: slow
ok      down                      1.2s  stopped 4 containers
skipped backup                          already done
FAILED  up                        3.0s  boom
"
        );
        assert_eq!(captured.stdout(), "");
    }
}
