//! Test hooks: known points of a run where an end-to-end test can hold the process (to
//! kill it with SIGKILL or interrupt it with SIGINT there).
//!
//! Compiled in only with the `test-hooks` cargo feature, which `scripts/test.sh` enables
//! for the test runs. Without it (the release binary, `cargo install`) [`reached`] is empty
//! and no test variable is ever read: a stray `XZUP_TEST_PAUSE_AT` cannot stall a real run.
//!
//! The hooks today: `XZUP_TEST_PAUSE_AT=<step>` waits (up to two minutes, or until Ctrl-C)
//! once the step is journaled as started, before its work begins; `XZUP_TEST_PAUSE_AT=locked`
//! waits once `backup`, `restore` or `backups prune` holds the deployment lock, before its
//! work (a second process to hold the lock, without the engine).
//!
//! Fault points belong here too (abort the process as SIGKILL would, before, in the middle
//! of or after a step): a [`Point`] for each place, a call to [`reached`] there (the loop
//! for before/after, a step's own file for the middle), and in [`enabled`] the variable
//! that picks it and what happens then.

use crate::journal::Step;

/// A place in a run a test can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Point {
    /// The step is journaled as started; its work has not begun.
    Started(Step),
    /// A command outside a run (`backup`, `restore`, `backups prune`) took the lock.
    Locked,
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
    const PAUSE_FOR: Duration = Duration::from_secs(120);

    pub fn reached(point: Point, stop_requested: fn() -> bool) {
        if pauses_at(point, std::env::var(PAUSE_AT).ok().as_deref()) {
            let until = Instant::now() + PAUSE_FOR;
            while Instant::now() < until && !stop_requested() {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Whether the value of [`PAUSE_AT`] names `point`.
    pub fn pauses_at(point: Point, pause_at: Option<&str>) -> bool {
        match point {
            Point::Started(step) => pause_at == Some(step.name()),
            Point::Locked => pause_at == Some("locked"),
        }
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
            assert!(pauses_at(
                Point::Started(Step::RollbackUp),
                Some("rollback-up")
            ));
            assert!(pauses_at(Point::Locked, Some("locked")));
            assert!(!pauses_at(Point::Locked, Some("up")));
        }
    }
}
