//! `xzup recommend`: the smallest tier per role from the samples `doctor --record` kept in
//! `.xzup/usage/` (or a fresh window, `doctor`'s [`super::doctor::measure`]), the tier for
//! the stack or the `--only` runs, whether this host fits, and the `xzup apply` to run.

use std::path::Path;

use serde::Serialize;

use crate::cli::RecommendArgs;
use crate::deployment::{Deployment, DeploymentOptions};
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::host::Host;
use crate::journal::time::display_time;
use crate::printer::{Printer, Style};
use crate::sizing::recommend::{self, Evidence, Recommendation};
use crate::sizing::record;
use crate::tiers::Classification;
use crate::units::human_bytes;

#[derive(Debug, Serialize)]
struct RecommendReport {
    /// `record` (`.xzup/usage/`) or `window` (sampled now).
    source: &'static str,
    samples: usize,
    windows: usize,
    /// Seconds since the epoch of the first and last sample.
    span: Option<(u64, u64)>,
    tier: Classification,
    host: String,
    #[serde(flatten)]
    recommendation: Recommendation,
}

const DEFAULT_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

pub(crate) fn run(
    opts: &DeploymentOptions,
    printer: &Printer,
    args: &RecommendArgs,
) -> Result<ExitStatus> {
    let asked = super::plan::only_roles(args.only.as_deref())?;
    let deployment = Deployment::open(opts)?;
    let lines = match args.window {
        Some(_) => Vec::new(),
        None => {
            let dir = record::usage_dir(&deployment.state_dir());
            record::read(&dir).map_err(|e| Error::io("read the samples in", &dir, e))?
        }
    };
    let recorded = lines.iter().any(|l| l.u.is_some());
    let (source, evidence, tier, roles, catalog) = if recorded {
        let catalog = deployment.catalog()?;
        let compose = deployment.compose()?;
        let roles = deployment.roles(&compose)?;
        let tier = catalog.classify(&compose.observe(&roles)?, &[]);
        ("record", Evidence::from_lines(&lines), tier, roles, catalog)
    } else {
        let window = args.window.unwrap_or(DEFAULT_WINDOW);
        if args.window.is_none() {
            printer.info(format_args!(
                "no samples recorded in `.xzup/usage/` (`xzup doctor --record` keeps them): sampling a fresh {}s window",
                window.as_secs()
            ));
        }
        let m = super::doctor::measure(opts, printer, window, args.interval)?;
        let evidence = Evidence::from_lines(&record::lines(&m.window, &m.assessment));
        ("window", evidence, m.tier, m.roles, m.catalog)
    };
    let chosen = super::plan::choose(&asked, &roles)?;
    let here = Host::detect().map_err(|e| Error::Usage {
        hint: e.hint(),
        message: e.to_string(),
    })?;
    let rec = recommend::recommend(
        &catalog,
        &evidence,
        &chosen,
        &tier.per_role,
        here.cpus,
        here.memory.clone(),
        &apply_prefix(opts),
    );
    let report = RecommendReport {
        source,
        samples: evidence.samples(),
        windows: evidence.windows,
        span: evidence.span,
        tier,
        host: here.to_string(),
        recommendation: rec,
    };
    if printer.is_json() {
        printer.json(&report);
    } else {
        print_text(printer, &report);
    }
    Ok(ExitStatus::Success)
}

fn at(secs: u64) -> String {
    chrono::DateTime::from_timestamp(i64::try_from(secs).unwrap_or(0), 0)
        .map_or_else(|| secs.to_string(), |t| display_time(&t))
}

/// `xzup [-C DIR] [--tiers-file FILE] apply`, as this command was given them.
fn apply_prefix(opts: &DeploymentOptions) -> String {
    let mut words = vec!["xzup".to_string()];
    if opts.dir != Path::new(".") {
        words.push(format!("-C {}", opts.dir.display()));
    }
    if let Some(file) = &opts.file {
        words.push(format!("-f {}", file.display()));
    }
    if let Some(tiers) = &opts.tiers_file {
        words.push(format!("--tiers-file {}", tiers.display()));
    }
    words.push("apply".into());
    words.join(" ")
}

fn print_text(printer: &Printer, r: &RecommendReport) {
    let source = match (r.source, r.span) {
        ("record", Some((from, to))) => format!(
            "{} samples in {} windows recorded from {} to {}",
            r.samples,
            r.windows,
            at(from),
            at(to)
        ),
        _ => format!("{} samples of a fresh window", r.samples),
    };
    printer.out(format_args!("From:     {source}"));
    printer.out(format_args!("Tier now: {}", r.tier));
    printer.out("");
    for c in &r.recommendation.roles {
        let verdict = match (&c.tier, c.covered) {
            (Some(t), true) => t.clone(),
            (Some(t), false) => format!("{t} (no tier covers it)"),
            (None, _) => "no recommendation".into(),
        };
        let now = c.current.as_deref().unwrap_or("custom");
        printer.out(printer.paint(&format!("{}: {verdict} (now {now})", c.role), Style::Bold));
        for reason in &c.reasons {
            printer.out(format_args!("  {reason}"));
        }
        if let (Some(p), Some(m)) = (c.p95_cores, c.peak_memory) {
            log::debug!("{}: p95 {p:.3} cores, peak {}", c.role, human_bytes(m));
        }
    }
    printer.out("");
    let rec = &r.recommendation;
    match &rec.stack_tier {
        Some(t) => printer.out(format_args!("Stack:    {t} covers every role")),
        None => printer.out("Stack:    no tier covers every role"),
    }
    if let Some(h) = &rec.tier_host {
        printer.out(format_args!("          {h}"));
    }
    if let Some(fit) = &rec.host_fit {
        printer.out(format_args!("Host:     {} — fits: {fit}", r.host));
    }
    printer.out("");
    if rec.commands.is_empty() {
        printer.out(printer.paint(
            "Nothing to change: each role is on the tier it needs",
            Style::Good,
        ));
    } else {
        printer.out("Run:");
        for c in &rec.commands {
            printer.out(format_args!("  {c}"));
        }
    }
}
