//! The fault matrix: xzup dies as SIGKILL would (`XZUP_TEST_FAULT_AT`, a hook of test
//! builds) before, in the middle of and after each step of an upgrade and of its rollback;
//! for every point `xzup status` must tell the truth, and `xzup resume` and `xzup rollback`
//! must each converge — to a verified stack on the tier they promise — with the MariaDB rows
//! and the uploadfile checksums of before the run.
//!
//! One seeded stack (pinned container names: only one can exist) goes through the points
//! in turn. An upgrade point applies the tier the stack is not on (seed ↔ grow): `resume`
//! must end on the new tier, `rollback` on the old one. A rollback point applies `skewed`
//! (verification fails) with `--restore-data always`: the run rolls back, and dies inside
//! that rollback; `resume` finishes the rollback (exit 3: the upgrade failed, the old stack
//! is back) and so does `rollback` (exit 0). Each path re-runs the fault, so both start
//! from the same state (a copy of a deployment's containers cannot be made).
//!
//! Cost: about 30 s a point and path here. By default (CI) the start of every step and
//! every middle run once, the paths alternating (20 runs, each path seen in the upgrade,
//! its rollback and the pre-copy steps); `XZUP_FAULT_MATRIX=all` runs every point once (35
//! runs, each step seen with both paths), `XZUP_FAULT_MATRIX=full` every point with both
//! (70); `XZUP_FAULT_POINTS=started:up,done:backup` picks points. The matrix is printed;
//! the test fails listing every point that did not converge.

use std::os::unix::process::ExitStatusExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use crate::e2e_upgrade::{
    assert_on_grow, assert_on_seed, newest_journal, seed_text, step_status, xzup,
};
use crate::harness::docker_available;
use crate::stack::TestStack;

const APPLY: [&str; 7] = [
    "preflight",
    "down",
    "backup",
    "write-compose",
    "up",
    "verify",
    "commit",
];
const ROLLBACK: [&str; 5] = [
    "rollback-down",
    "rollback-restore-data",
    "rollback-activate",
    "rollback-up",
    "rollback-check",
];
/// The upgrade with `--backup-mode precopy`: its own steps are `precopy`, `delta` and
/// `archive`; the others are the same as the direct upgrade's, whose points cover them.
const PRECOPY_APPLY: [&str; 10] = [
    "preflight",
    "precopy",
    "down",
    "delta",
    "backup",
    "write-compose",
    "up",
    "archive",
    "verify",
    "commit",
];
const PRECOPY_OWN: [&str; 3] = ["precopy", "delta", "archive"];
/// The steps with a middle (see `src/upgrade/hooks.rs`).
const MIDDLES: [&str; 5] = ["down", "backup", "up", "archive", "rollback-restore-data"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    Resume,
    Rollback,
}

impl Path {
    fn command(self) -> &'static str {
        match self {
            Path::Resume => "resume",
            Path::Rollback => "rollback",
        }
    }
}

/// A place xzup dies at.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    /// `started:up`, `middle:backup`, `done:commit`.
    pub name: String,
    /// In the rollback of a failed upgrade (else in the upgrade).
    in_rollback: bool,
    /// The upgrade runs with `--backup-mode precopy`.
    precopy: bool,
    /// What `xzup status` must name as the step the run stopped at (`None`: the end).
    next_step: Option<&'static str>,
    /// The step the journal must show as `started` (dying before or in it) or `done`.
    step: &'static str,
    done: bool,
}

/// Every point, in run order: 17 in the upgrade, 11 in the rollback, 7 in the pre-copy
/// upgrade's own steps.
pub(crate) fn points() -> Vec<Point> {
    let mut out = Vec::new();
    let sequences = [
        (&APPLY[..], false, false),
        (&ROLLBACK[..], true, false),
        (&PRECOPY_APPLY[..], false, true),
    ];
    for (steps, in_rollback, precopy) in sequences {
        for (i, &step) in steps.iter().enumerate() {
            if precopy && !PRECOPY_OWN.contains(&step) {
                continue;
            }
            let at = |kind: &str, done: bool, next: Option<&'static str>| Point {
                name: format!("{kind}:{step}"),
                in_rollback,
                precopy,
                next_step: next,
                step,
                done,
            };
            out.push(at("started", false, Some(step)));
            if MIDDLES.contains(&step) {
                out.push(at("middle", false, Some(step)));
            }
            out.push(at("done", true, steps.get(i + 1).copied()));
        }
    }
    out
}

/// The (point, path) runs of this test: see the module doc.
fn selected() -> Vec<(Point, Path)> {
    let all = points();
    let picked: Vec<Point> = match std::env::var("XZUP_FAULT_POINTS") {
        Ok(list) if !list.trim().is_empty() => {
            let names: Vec<&str> = list.split(',').map(str::trim).collect();
            for name in &names {
                assert!(
                    all.iter().any(|p| p.name == *name),
                    "XZUP_FAULT_POINTS: no point `{name}`"
                );
            }
            all.into_iter()
                .filter(|p| names.contains(&p.name.as_str()))
                .collect()
        }
        _ => match matrix().as_str() {
            "all" | "full" => all,
            _ => default_points(all),
        },
    };
    with_paths(picked, matrix() == "full")
}

/// `XZUP_FAULT_MATRIX`: `all`, `full`, or unset (the default selection).
fn matrix() -> String {
    let value = std::env::var("XZUP_FAULT_MATRIX").unwrap_or_default();
    assert!(
        matches!(value.as_str(), "" | "all" | "full"),
        "XZUP_FAULT_MATRIX is `all` or `full`, not `{value}`"
    );
    value
}

/// The default selection: the start of every step and every middle (a `done:` point is
/// the next step's start but for the journal's last line: `XZUP_FAULT_MATRIX=all`).
fn default_points(all: Vec<Point>) -> Vec<Point> {
    all.into_iter().filter(|p| !p.done).collect()
}

/// Each point with both paths (`full`), or once, the paths alternating.
fn with_paths(points: Vec<Point>, full: bool) -> Vec<(Point, Path)> {
    let mut runs = Vec::new();
    for (i, point) in points.into_iter().enumerate() {
        if full {
            runs.push((point.clone(), Path::Resume));
            runs.push((point, Path::Rollback));
        } else {
            let path = if i % 2 == 0 {
                Path::Resume
            } else {
                Path::Rollback
            };
            runs.push((point, path));
        }
    }
    runs
}

/// The stack under test, the tier it is on, and its data's checksums.
struct Subject {
    stack: TestStack,
    tier: &'static str,
    rows: String,
    files: String,
}

impl Subject {
    fn seeded() -> Subject {
        let stack = TestStack::new(&seed_text());
        stack.insert_rows(500);
        stack.write_upload_files(20);
        let (rows, files) = (stack.checksum_rows(), stack.checksum_uploads());
        Subject {
            stack,
            tier: "seed",
            rows,
            files,
        }
    }
}

fn other(tier: &str) -> &'static str {
    if tier == "seed" { "grow" } else { "seed" }
}

fn assert_on(stack: &TestStack, tier: &str) {
    match tier {
        "seed" => assert_on_seed(stack),
        _ => {
            assert_on_grow(stack);
            for s in stack.wait_healthy() {
                assert!(s.is_ready(), "{} is {}", s.service, s.describe());
            }
        }
    }
}

/// Dies at `point` during `xzup apply`, checks the journal and `xzup status`, then takes
/// `path`; returns the tier the stack ends on. Panics (caught by the caller) on anything
/// that is not the expected outcome.
fn run_point(subject: &Subject, point: &Point, path: Path) -> &'static str {
    let stack = &subject.stack;
    let (from, target) = (subject.tier, other(subject.tier));
    let tier = if point.in_rollback { "skewed" } else { target };
    let mut apply = xzup(stack).env("XZUP_TEST_FAULT_AT", &point.name).args([
        "apply",
        "--tier",
        tier,
        "--verify-window",
        "1",
    ]);
    if point.in_rollback {
        apply = apply.args(["--restore-data", "always"]);
    }
    // Each point's own sequence, whatever the default.
    let mode = if point.precopy { "precopy" } else { "direct" };
    apply = apply.args(["--backup-mode", mode]);
    let (status, stderr) = apply.run_status();
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "apply did not die by SIGKILL at {}: {status}\n{stderr}",
        point.name
    );

    // The journal says where it died.
    let journal = newest_journal(stack.dir()).expect("a journal");
    assert_eq!(journal["outcome"], "in-progress", "{journal}");
    let want = if point.done { "done" } else { "started" };
    assert_eq!(
        step_status(&journal, point.step).as_deref(),
        Some(want),
        "{journal}"
    );
    if let Some(next) = point.next_step.filter(|_| point.done) {
        assert_eq!(step_status(&journal, next), None, "{journal}");
    }
    // `xzup status` tells the truth: an unfinished run, stopped at the right step.
    let out = xzup(stack)
        .args(["status", "--format", "json"])
        .run()
        .success();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("status JSON");
    assert_eq!(
        doc["unfinished_run"]["run"], journal["id"],
        "status: {}",
        out.stdout
    );
    assert_eq!(
        doc["unfinished_run"]["next_step"],
        serde_json::json!(point.next_step),
        "status: {}",
        out.stdout
    );
    let text = xzup(stack).args(["status"]).run().success();
    let line = format!(
        "stopped at `{}`: run `xzup resume` or `xzup rollback`",
        point.next_step.unwrap_or("the end")
    );
    assert!(text.stdout.contains(&line), "{}", text.stdout);

    // The way out.
    let out = xzup(stack).args([path.command()]).run();
    let (code, outcome, ends_on) = match (path, point.in_rollback) {
        (Path::Resume, false) => (0, "succeeded", target),
        (Path::Resume, true) => (3, "rolled-back", from),
        (Path::Rollback, _) => (0, "rolled-back", from),
    };
    let out = out.code(code);
    let journal = newest_journal(stack.dir()).expect("a journal");
    assert_eq!(journal["outcome"], outcome, "{}\n{journal}", out.stderr);
    assert_on(stack, ends_on);
    assert_eq!(stack.checksum_rows(), subject.rows, "rows after {path:?}");
    assert_eq!(
        stack.checksum_uploads(),
        subject.files,
        "uploadfile after {path:?}"
    );
    let out = xzup(stack).args(["status", "--format", "json"]).run();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("status JSON");
    assert_eq!(
        doc["unfinished_run"],
        serde_json::Value::Null,
        "{}",
        out.stdout
    );
    ends_on
}

/// What one run of the matrix gave.
struct Cell {
    ok: bool,
    note: String,
    took: Duration,
}

fn panic_text(e: &Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".into())
}

#[test]
fn e2e_fault_matrix_every_point_converges_both_ways() {
    if !docker_available() {
        return;
    }
    if !cfg!(feature = "test-hooks") {
        panic!("the fault matrix needs `--features test-hooks` (scripts/test.sh builds with it)");
    }
    let runs = selected();
    let started = Instant::now();
    let mut subject = Some(Subject::seeded());
    let mut cells: Vec<(Point, Path, Cell)> = Vec::new();
    for (point, path) in runs {
        let s = subject.get_or_insert_with(Subject::seeded);
        let t = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| run_point(s, &point, path)));
        let took = t.elapsed();
        let cell = match result {
            Ok(tier) => {
                s.tier = tier;
                Cell {
                    ok: true,
                    note: format!("ok -> {tier}"),
                    took,
                }
            }
            Err(e) => {
                // A stack that did not converge is not one to go on with: a fresh one.
                subject = None;
                let text = panic_text(&e);
                Cell {
                    ok: false,
                    note: text
                        .lines()
                        .next()
                        .unwrap_or("")
                        .chars()
                        .take(200)
                        .collect(),
                    took,
                }
            }
        };
        eprintln!(
            "fault matrix: {:<30} {:<8} {:>5.1}s {}",
            point.name,
            path.command(),
            cell.took.as_secs_f64(),
            cell.note
        );
        cells.push((point, path, cell));
    }
    drop(subject);
    let total = started.elapsed();
    print_matrix(&cells, total);
    let failed: Vec<String> = cells
        .iter()
        .filter(|(_, _, c)| !c.ok)
        .map(|(p, path, c)| format!("{} ({}): {}", p.name, path.command(), c.note))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} fault-matrix runs did not converge:\n{}",
        failed.len(),
        cells.len(),
        failed.join("\n")
    );
}

fn print_matrix(cells: &[(Point, Path, Cell)], total: Duration) {
    let mut names: Vec<&str> = Vec::new();
    for (p, _, _) in cells {
        if !names.contains(&p.name.as_str()) {
            names.push(&p.name);
        }
    }
    let show = |name: &str, path: Path| {
        cells
            .iter()
            .find(|(p, q, _)| p.name == name && *q == path)
            .map_or("-".to_string(), |(_, _, c)| {
                format!(
                    "{} ({:.0}s)",
                    if c.ok { "converged" } else { "FAILED" },
                    c.took.as_secs_f64()
                )
            })
    };
    let mut table = format!(
        "\nfault matrix ({} runs, {:.0}s):\n{:<30} {:<18} {:<18}\n",
        cells.len(),
        total.as_secs_f64(),
        "point",
        "resume",
        "rollback"
    );
    for name in names {
        table += &format!(
            "{:<30} {:<18} {:<18}\n",
            name,
            show(name, Path::Resume),
            show(name, Path::Rollback)
        );
    }
    eprintln!("{table}");
    println!("{table}");
}

#[test]
fn the_matrix_has_at_least_24_points_each_step_with_both_paths() {
    let all = points();
    assert_eq!(all.len(), 35);
    let names: std::collections::BTreeSet<_> = all.iter().map(|p| p.name.clone()).collect();
    assert_eq!(names.len(), all.len(), "distinct");
    // The default selection: every step's start and every middle, once; each path taken
    // in the upgrade, in its rollback and in the pre-copy steps.
    let default = with_paths(default_points(all.clone()), false);
    assert_eq!(default.len(), 20);
    for step in APPLY.iter().chain(&ROLLBACK).chain(&PRECOPY_OWN) {
        assert!(
            default.iter().any(|(p, _)| p.step == *step),
            "{step} never in the default selection"
        );
    }
    for steps in [&APPLY[..], &ROLLBACK[..], &PRECOPY_OWN[..]] {
        for path in [Path::Resume, Path::Rollback] {
            assert!(
                default
                    .iter()
                    .any(|(p, q)| steps.contains(&p.step) && *q == path),
                "{path:?} never taken in {steps:?}"
            );
        }
    }
    // `all`: every point once, and each step seen with both paths.
    let runs = with_paths(all.clone(), false);
    assert_eq!(runs.len(), 35);
    assert_eq!(with_paths(all, true).len(), 70);
    for step in APPLY.iter().chain(&ROLLBACK).chain(&PRECOPY_OWN) {
        for path in [Path::Resume, Path::Rollback] {
            assert!(
                runs.iter().any(|(p, q)| p.step == *step && *q == path),
                "{step} never taken by {path:?}"
            );
        }
    }
}
