//! Ctrl-C during a run. The first SIGINT/SIGTERM asks the run to stop: the engine notices at
//! its next check (between steps, while waiting) and rolls back. A second one asks the
//! rollback to stop too, at its next safe point (between its steps; a restore before it
//! swaps anything in): the run ends with a journal that `xzup resume` or `xzup rollback`
//! finishes, and says so. A third one ends the process at once; the journal, written
//! atomically, still says where things stand.

use std::sync::atomic::{AtomicUsize, Ordering};

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

/// Installs the handler (once per process; later calls do nothing).
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if SIGNALS.fetch_add(1, Ordering::SeqCst) >= 2 {
            std::process::exit(130);
        }
    });
}

/// Whether the operator asked the run to stop.
pub fn requested() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0
}

/// Whether the operator asked again, during the rollback the first request started.
pub fn requested_again() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 1
}
