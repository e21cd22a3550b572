//! Test hooks: known points of a run where an end-to-end test can hold the process (to
//! kill it with SIGKILL or interrupt it with SIGINT there), or have it die as SIGKILL
//! would.
//!
//! Compiled in only with the `test-hooks` cargo feature, which `scripts/test.sh` enables
//! for the test runs. Without it (the release binary, `cargo install`) [`reached`] is empty
//! and no test variable is ever read: a stray `XZUP_TEST_PAUSE_AT` or `XZUP_TEST_FAULT_AT`
//! cannot stall or kill a real run.
//!
//! - `XZUP_TEST_PAUSE_AT=<step>` waits (up to two minutes, or until Ctrl-C) once the step
//!   is journaled as started, before its work begins. A comma-separated list pauses at
//!   each; a [`Point::name`] (`middle:backup`) pauses at that point. With
//!   `XZUP_TEST_PAUSE_RELEASE=<file>` a pause also ends when the file appears (the hook
//!   removes it, so the next pause waits for it again); while the run waits, `<file>.at`
//!   holds the point's name.
//! - `XZUP_TEST_FAULT_AT=<point>` sends SIGKILL to the process itself when the run
//!   reaches `<point>` ([`Point::name`]: `started:<step>`, `middle:<step>`, `done:<step>`):
//!   no destructor, no flush, no lock release — what a power cut or the OOM killer leaves.
//! - `XZUP_TEST_FAIL_AT=<point>` makes a step that asks ([`fails_at`]; `live-update` at its
//!   middle, after its first change) fail as a Docker call would: the loop rolls back.
//! - `XZUP_TEST_PAUSE_AT=locked` waits once `backup`, `restore` or `backups prune` holds the
//!   deployment lock, before its work.
//!
//! The loop reaches [`Point::Started`] and [`Point::Done`] for every step; a step with a
//! middle reaches [`Point::Middle`] from its own file (or through its progress sink, see
//! [`MIDDLES`]).

use crate::journal::Step;

/// A place in a run a test can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Point {
    /// The step is journaled as started; its work has not begun.
    Started(Step),
    /// Part of the step's work is done: see [`MIDDLES`].
    Middle(Step),
    /// The step is journaled as done; the next one has not started.
    Done(Step),
    /// A command outside a run (`backup`, `restore`, `backups prune`) took the lock:
    /// `XZUP_TEST_PAUSE_AT=locked` holds it there (a second process holding the lock,
    /// without the engine).
    Locked,
}

/// The steps with a middle, and where it is:
/// - `down`: the stack was stopped, the check that nothing runs has not been made;
/// - `backup`: half of the data's bytes are in the unfinished archive;
/// - `up`: `up -d` returned, the services are not yet known healthy;
/// - `archive` (pre-copy): half of the staging copy's bytes are in the unfinished archive;
/// - `rollback-restore-data`: the first data path is swapped in, the others not yet.
pub(super) const MIDDLES: [Step; 5] = [
    Step::Down,
    Step::Backup,
    Step::Up,
    Step::Archive,
    Step::RollbackRestoreData,
];

impl Point {
    /// The name `XZUP_TEST_FAULT_AT` takes: `started:up`, `middle:backup`, `done:commit`.
    #[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
    pub fn name(self) -> String {
        match self {
            Point::Started(step) => format!("started:{}", step.name()),
            Point::Middle(step) => format!("middle:{}", step.name()),
            Point::Done(step) => format!("done:{}", step.name()),
            Point::Locked => "locked".to_string(),
        }
    }
}

/// Whether a test build was asked to fail the step at `point` (`XZUP_TEST_FAIL_AT`): the
/// step then returns its own failure, as a Docker call that failed would, and the loop
/// rolls back. Always `false` without `test-hooks`.
#[inline]
pub(crate) fn fails_at(point: Point) -> bool {
    #[cfg(feature = "test-hooks")]
    {
        enabled::faults_at(point, std::env::var("XZUP_TEST_FAIL_AT").ok().as_deref())
    }
    #[cfg(not(feature = "test-hooks"))]
    {
        let _ = point;
        false
    }
}

/// The run is at `point`. `stop_requested` ends a pause early (Ctrl-C). Does nothing
/// unless built with the `test-hooks` feature.
#[inline]
pub(crate) fn reached(point: Point, stop_requested: fn() -> bool) {
    #[cfg(feature = "test-hooks")]
    enabled::reached(point, stop_requested);
    #[cfg(not(feature = "test-hooks"))]
    let _ = (point, stop_requested);
}

#[cfg(feature = "test-hooks")]
mod enabled {
    use std::time::{Duration, Instant};

    use super::Point;

    /// `XZUP_TEST_PAUSE_AT=<step>`: wait at that step's [`Point::Started`].
    pub const PAUSE_AT: &str = "XZUP_TEST_PAUSE_AT";
    /// `XZUP_TEST_FAULT_AT=<point>`: SIGKILL at that point.
    pub const FAULT_AT: &str = "XZUP_TEST_FAULT_AT";
    /// `XZUP_TEST_PAUSE_RELEASE=<file>`: a pause ends when the file exists.
    pub const PAUSE_RELEASE: &str = "XZUP_TEST_PAUSE_RELEASE";
    const PAUSE_FOR: Duration = Duration::from_secs(120);

    pub fn reached(point: Point, stop_requested: fn() -> bool) {
        if faults_at(point, std::env::var(FAULT_AT).ok().as_deref()) {
            die_as_killed();
        }
        if pauses_at(point, std::env::var(PAUSE_AT).ok().as_deref()) {
            let release = std::env::var_os(PAUSE_RELEASE).map(std::path::PathBuf::from);
            // `<file>.at` names the point while the run waits there.
            let at = release.as_ref().map(|f| {
                let mut at = f.clone().into_os_string();
                at.push(".at");
                std::path::PathBuf::from(at)
            });
            if let Some(at) = &at {
                let _ = std::fs::write(at, point.name());
            }
            let until = Instant::now() + PAUSE_FOR;
            while Instant::now() < until && !stop_requested() {
                if let Some(file) = release.as_deref()
                    && std::fs::remove_file(file).is_ok()
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if let Some(at) = &at {
                let _ = std::fs::remove_file(at);
            }
        }
    }

    /// SIGKILL to ourselves: the kernel ends the process with no handler, destructor,
    /// atexit or buffer flush run — unlike `exit` (flushes) or `abort` (SIGABRT, catchable,
    /// a core dump).
    fn die_as_killed() -> ! {
        // SAFETY: kill(2) and getpid(2) on our own process; no memory is involved.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        // SIGKILL is delivered before kill(2) returns to a single-threaded sender; a
        // thread still running here waits for it.
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Whether the value of [`PAUSE_AT`] names `point`: a step's name for its
    /// [`Point::Started`], or the point's own name; several, comma-separated.
    pub fn pauses_at(point: Point, pause_at: Option<&str>) -> bool {
        pause_at.unwrap_or("").split(',').any(|name| {
            name == point.name() || matches!(point, Point::Started(step) if name == step.name())
        })
    }

    /// Whether the value of [`FAULT_AT`] names `point`.
    pub fn faults_at(point: Point, fault_at: Option<&str>) -> bool {
        fault_at.is_some_and(|name| name == point.name())
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::journal::Step;

        #[test]
        fn pauses_at_the_named_step_only() {
            assert!(pauses_at(Point::Started(Step::Up), Some("up")));
            assert!(!pauses_at(Point::Started(Step::Up), Some("down")));
            assert!(!pauses_at(Point::Started(Step::Up), None));
            assert!(!pauses_at(Point::Done(Step::Up), Some("up")));
            assert!(pauses_at(Point::Done(Step::Up), Some("down,done:up")));
            assert!(pauses_at(Point::Started(Step::Down), Some("down,done:up")));
            assert!(pauses_at(
                Point::Middle(Step::Backup),
                Some("middle:backup")
            ));
            assert!(!pauses_at(Point::Middle(Step::Backup), Some("backup")));
            assert!(pauses_at(
                Point::Started(Step::RollbackUp),
                Some("rollback-up")
            ));
            assert!(pauses_at(Point::Locked, Some("locked")));
            assert!(!pauses_at(Point::Locked, Some("up")));
        }

        #[test]
        fn faults_at_the_named_point_only() {
            assert!(faults_at(Point::Started(Step::Up), Some("started:up")));
            assert!(faults_at(
                Point::Middle(Step::Backup),
                Some("middle:backup")
            ));
            assert!(faults_at(
                Point::Done(Step::RollbackCheck),
                Some("done:rollback-check")
            ));
            assert!(!faults_at(Point::Done(Step::Up), Some("started:up")));
            assert!(!faults_at(Point::Started(Step::Up), Some("up")));
            assert!(!faults_at(Point::Started(Step::Up), None));
        }

        #[test]
        fn every_middle_names_a_distinct_step() {
            let names: std::collections::BTreeSet<_> = super::super::MIDDLES
                .iter()
                .map(|s| Point::Middle(*s).name())
                .collect();
            assert_eq!(names.len(), super::super::MIDDLES.len());
        }
    }
}
