//! `xzup history`: the runs of a deployment, newest first, from their journals — when,
//! what, from which tier to which, how it ended, how long each step and the downtime
//! took, and the backup. `--format json` prints the journals as one document.

use serde::Serialize;

use crate::deployment::{Deployment, DeploymentOptions};
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::journal::time::{display_duration, display_time};
use crate::journal::{self, Listing, Outcome, Run, Step, StepStatus};
use crate::lock;
use crate::printer::{Printer, Style};

pub(crate) fn run(opts: &DeploymentOptions, printer: &Printer) -> Result<ExitStatus> {
    // The runs are read from their journals: a damaged state.json is said, not fatal.
    let (deployment, damaged) = Deployment::open_despite_state(opts)?;
    if let Some(e) = &damaged {
        match e.hint() {
            Some(hint) => printer.warn(format_args!("{e}\n  hint: {hint}")),
            None => printer.warn(e),
        }
    }
    let state_dir = deployment.state_dir();
    let listing = journal::list(&state_dir)?;
    // An in-progress run is running when someone holds the lock, else it was interrupted.
    // Not knowing (an unreadable lock file) reads as interrupted: the safe advice.
    let running = lock::inspect(&state_dir)
        .ok()
        .flatten()
        .is_some_and(|info| info.held);

    if printer.is_json() {
        printer.json(&HistoryReport::new(&listing));
        return Ok(ExitStatus::Success);
    }
    for err in &listing.unreadable {
        match err.hint() {
            Some(hint) => printer.warn(format_args!("{err}\n  hint: {hint}")),
            None => printer.warn(err),
        }
    }
    if listing.runs.is_empty() {
        printer.out("no runs yet");
        return Ok(ExitStatus::Success);
    }
    let blocks: Vec<String> = listing
        .runs
        .iter()
        .map(|j| describe(j.run(), running, printer))
        .collect();
    printer.out(blocks.join("\n\n"));
    let interrupted = listing
        .runs
        .iter()
        .find(|j| j.run().outcome == Outcome::InProgress);
    if let (Some(journal), false) = (interrupted, running) {
        printer.warn(format_args!(
            "run `{}` did not finish: `xzup resume` continues it, `xzup rollback` returns to the stack as it was before it",
            journal.id()
        ));
    }
    Ok(ExitStatus::Success)
}

/// `history --format json`: the runs' journals, newest first, and the journals that could
/// not be read.
#[derive(Debug, Serialize)]
struct HistoryReport<'a> {
    runs: Vec<&'a Run>,
    unreadable: Vec<Unreadable>,
}

#[derive(Debug, Serialize)]
struct Unreadable {
    error: String,
    hint: Option<String>,
}

impl HistoryReport<'_> {
    fn new(listing: &Listing) -> HistoryReport<'_> {
        HistoryReport {
            runs: listing.runs.iter().map(|j| j.run()).collect(),
            unreadable: listing
                .unreadable
                .iter()
                .map(|e| Unreadable {
                    error: e.to_string(),
                    hint: e.hint(),
                })
                .collect(),
        }
    }
}

/// One run as a block of lines:
///
/// ```text
/// 2026-11-25 19:30:00  apply  low → ultra  succeeded
///   run       20261125-193000-apply-ultra
///   roles     server = `xiaozhi-esp32-server`; db = `xiaozhi-db`; redis, web not in this deployment
///   steps     preflight 0.8s, down 1.2s, backup 3.4s, ...
///   downtime  13.2s
///   backup    backups/backup-20261125-193001.tar.gz (613M, verified)
/// ```
fn describe(run: &Run, running: bool, printer: &Printer) -> String {
    let mut tiers = format!("{} → {}", run.tier_from, run.tier_to);
    if !run.only.is_empty() {
        let roles: Vec<&str> = run.only.iter().map(|r| r.name()).collect();
        tiers.push_str(&format!(" (only {})", roles.join(", ")));
    }
    let live = running && run.outcome == Outcome::InProgress;
    let mut text = format!(
        "{}  {}  {}  {}\n",
        printer.paint(&display_time(&run.started_at), Style::Bold),
        run.kind,
        tiers,
        outcome(run.outcome, live, printer)
    );
    let mut line = |label: &str, value: &str| {
        text.push_str(&format!("  {label:<9} {value}\n"));
    };
    line("run", &run.id);
    if let Some(roles) = &run.roles {
        line("roles", &roles.summary());
    }
    if let Some(undone) = &run.rolls_back {
        line("undoes", undone);
    }
    if let Some(by) = &run.undone_by {
        line("undone by", by);
    }
    if !run.steps.is_empty() {
        let steps: Vec<String> = run.steps.iter().map(|r| step(r, live)).collect();
        line("steps", &steps.join(", "));
    }
    line("downtime", &downtime(run));
    if let Some(change) = &run.sizing {
        for (i, l) in sizing_lines(change).iter().enumerate() {
            line(if i == 0 { "use" } else { "" }, l);
        }
    }
    if let Some(backup) = &run.backup {
        let verified = if backup.verified {
            "verified"
        } else {
            "not verified"
        };
        line(
            "backup",
            &format!(
                "{} ({}, {verified})",
                backup.path.display(),
                crate::units::human_bytes(backup.size)
            ),
        );
    }
    if let Some(failed) = run.failed_step() {
        let error = failed.error.as_deref().unwrap_or("no message recorded");
        line("error", &format!("{}: {error}", failed.step));
    }
    if let Some(reason) = &run.rollback_reason {
        line("rollback", reason);
    }
    for warning in &run.warnings {
        line("warning", warning);
    }
    text.pop(); // the last newline: `out` adds one
    text
}

fn outcome(outcome: Outcome, live: bool, printer: &Printer) -> String {
    let (text, style) = match outcome {
        Outcome::InProgress if live => ("running", Style::Header),
        Outcome::InProgress => ("unfinished", Style::Warn),
        Outcome::Succeeded => ("succeeded", Style::Good),
        Outcome::RolledBack => ("rolled back", Style::Warn),
        Outcome::RollbackFailed => ("rollback failed", Style::Error),
        Outcome::Failed => ("failed", Style::Error),
    };
    printer.paint(text, style)
}

/// `down 1.2s`, `up failed after 300.0s`, `rollback-restore-data skipped`,
/// `backup interrupted` (or `backup running` while its run goes on).
fn step(record: &journal::StepRecord, live: bool) -> String {
    let name = record.step.name();
    let took = record.duration_ms.map(display_duration);
    match (record.status, took) {
        (StepStatus::Done, Some(took)) => format!("{name} {took}"),
        (StepStatus::Done, None) => name.to_string(),
        (StepStatus::Failed, Some(took)) => format!("{name} failed after {took}"),
        (StepStatus::Failed, None) => format!("{name} failed"),
        (StepStatus::Skipped, _) => format!("{name} skipped"),
        (StepStatus::Started, _) if live => format!("{name} running"),
        (StepStatus::Started, _) => format!("{name} interrupted"),
    }
}

fn downtime(run: &Run) -> String {
    if let Some(ms) = run.downtime_ms() {
        if run.outage.is_empty() {
            return display_duration(ms);
        }
        return format!(
            "{} ({})",
            display_duration(ms),
            journal::describe_outage(&run.outage)
        );
    }
    let went_down = [Step::Down, Step::RollbackDown]
        .iter()
        .any(|&s| run.step(s).is_some());
    if went_down {
        "not back up".to_string()
    } else {
        "none (the stack was not stopped)".to_string()
    }
}

/// The doctor's figures before the run and during its verify, side by side.
fn sizing_lines(change: &crate::journal::SizingChange) -> Vec<String> {
    use crate::units::human_bytes;
    let Some(after) = &change.after else {
        return vec!["not measured during verify".into()];
    };
    let Some(before) = &change.before else {
        let mut out = vec![
            "before: not measured (`xzup doctor --record` before an apply keeps a window)".into(),
        ];
        out.extend(after.cpu_p95.iter().map(|(role, c)| {
            format!(
                "after: {role} CPU p95 {c:.2} cores, memory {}",
                after
                    .memory_peak
                    .get(role)
                    .map_or("?".into(), |m| human_bytes(*m))
            )
        }));
        return out;
    };
    let mut out = vec![format!(
        "before → after ({} → {} samples)",
        before.samples, after.samples
    )];
    for (role, c) in &after.cpu_p95 {
        let was = before
            .cpu_p95
            .get(role)
            .map_or("?".into(), |b| format!("{b:.2}"));
        let mem = |s: &crate::journal::SizingSnapshot| {
            s.memory_peak
                .get(role)
                .map_or("?".into(), |m| human_bytes(*m))
        };
        out.push(format!(
            "{role}: CPU p95 {was} → {c:.2} cores, memory {} → {}",
            mem(before),
            mem(after)
        ));
    }
    let pct = |h: Option<f64>| h.map_or("?".into(), |h| format!("{:.1}%", h * 100.0));
    let count = |n: Option<u64>| n.map_or("?".into(), |n| n.to_string());
    let mut extra = Vec::new();
    if before.hit_rate.is_some() || after.hit_rate.is_some() {
        extra.push(format!(
            "hit rate {} → {}",
            pct(before.hit_rate),
            pct(after.hit_rate)
        ));
    }
    if before.evicted_keys.is_some() || after.evicted_keys.is_some() {
        extra.push(format!(
            "evicted {} → {}",
            count(before.evicted_keys),
            count(after.evicted_keys)
        ));
    }
    for (role, ms) in &after.round_trips_ms {
        let was = before
            .round_trips_ms
            .get(role)
            .map_or("?".into(), |b| format!("{b:.0}"));
        extra.push(format!("{role} round-trip {was} → {ms:.0} ms"));
    }
    if !extra.is_empty() {
        out.push(extra.join("; "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{SizingChange, SizingSnapshot};
    use crate::roles::Role;

    fn snapshot(cores: f64, memory: u64, hit: f64, evicted: u64, ms: f64) -> SizingSnapshot {
        SizingSnapshot {
            at: 1,
            samples: 3,
            cpu_p95: [(Role::Db, cores)].into(),
            memory_peak: [(Role::Db, memory)].into(),
            hit_rate: Some(hit),
            evicted_keys: Some(evicted),
            round_trips_ms: [(Role::Server, ms)].into(),
        }
    }

    #[test]
    fn before_and_after_side_by_side() {
        let change = SizingChange {
            before: Some(snapshot(0.25, 300 << 20, 0.9, 120, 40.0)),
            after: Some(snapshot(0.6, 310 << 20, 0.995, 0, 3.0)),
        };
        assert_eq!(
            sizing_lines(&change),
            vec![
                "before → after (3 → 3 samples)",
                "db: CPU p95 0.25 → 0.60 cores, memory 300M → 310M",
                "hit rate 90.0% → 99.5%; evicted 120 → 0; server round-trip 40 → 3 ms",
            ]
        );
        let first = SizingChange {
            before: None,
            ..change
        };
        assert_eq!(
            sizing_lines(&first),
            vec![
                "before: not measured (`xzup doctor --record` before an apply keeps a window)",
                "after: db CPU p95 0.60 cores, memory 310M",
            ]
        );
    }
}
