//! Ctrl-C during a run. The first SIGINT/SIGTERM asks the run to stop: the engine notices at
//! its next check (between steps, while waiting) and rolls back. A second one ends the
//! process at once; the journal, written atomically, still says where things stand, so
//! `xzup resume` or `xzup rollback` can finish the job.

use std::sync::atomic::{AtomicUsize, Ordering};

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

/// Installs the handler (once per process; later calls do nothing).
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if SIGNALS.fetch_add(1, Ordering::SeqCst) >= 1 {
            std::process::exit(130);
        }
    });
}

/// Whether the operator asked the run to stop.
pub fn requested() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0
}
