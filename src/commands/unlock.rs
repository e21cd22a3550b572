//! `xzup unlock`: clears the lock record a run left when its process died.
//!
//! The lock itself (a flock) dies with its process, so a leftover record never blocks a
//! run — the next one takes it over with a warning. `unlock` is for tidying up, and for
//! the rare case a live process holds the lock: refused, unless `--force`, which removes
//! the lock file. A flock cannot be broken from outside its process: `--force` clears the
//! record, it does not stop the run, and a new run will no longer wait for it.

use serde::Serialize;

use crate::cli::UnlockArgs;
use crate::deployment::{Deployment, DeploymentOptions};
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::lock::{self, LockError, LockRecord, Unlocked};
use crate::printer::Printer;

pub(crate) fn run(
    opts: &DeploymentOptions,
    printer: &Printer,
    args: &UnlockArgs,
) -> Result<ExitStatus> {
    let deployment = Deployment::open(opts)?;
    let unlocked = lock::unlock(&deployment.state_dir(), args.force).map_err(refused)?;
    if printer.is_json() {
        printer.json(&UnlockReport::new(&unlocked));
    } else {
        match &unlocked {
            Unlocked::NoLock => printer.out("no lock: nothing to clear"),
            Unlocked::ClearedStale(record) => printer.out(format_args!(
                "cleared the stale lock of a run that ended without releasing it ({})",
                describe(record.as_ref())
            )),
            Unlocked::RemovedHeld(record) => printer.out(format_args!(
                "removed the lock file of a run that still holds it ({})",
                describe(record.as_ref())
            )),
        }
    }
    if let Unlocked::RemovedHeld(record) = &unlocked {
        let who = match record {
            Some(r) => format!("process {}", r.pid),
            None => "the process that holds it".to_string(),
        };
        printer.warn(format_args!(
            "{who} keeps running, and a new run will no longer wait for it: stop it before you start another"
        ));
    }
    Ok(ExitStatus::Success)
}

/// `unlock --format json`: what was done, and the lock record it concerned.
#[derive(Debug, Serialize)]
struct UnlockReport<'a> {
    action: Action,
    lock: Option<&'a LockRecord>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Action {
    None,
    ClearedStale,
    RemovedHeld,
}

impl UnlockReport<'_> {
    fn new(unlocked: &Unlocked) -> UnlockReport<'_> {
        let (action, lock) = match unlocked {
            Unlocked::NoLock => (Action::None, None),
            Unlocked::ClearedStale(r) => (Action::ClearedStale, r.as_ref()),
            Unlocked::RemovedHeld(r) => (Action::RemovedHeld, r.as_ref()),
        };
        UnlockReport { action, lock }
    }
}

fn describe(record: Option<&LockRecord>) -> String {
    match record {
        Some(r) => r.describe(),
        None => "its record was unreadable".to_string(),
    }
}

/// A held lock, with what `--force` would and would not do added to the hint.
fn refused(err: LockError) -> Error {
    match err {
        LockError::Held { .. } | LockError::HeldUnrecorded { .. } => {
            let hint = err.hint().unwrap_or_default();
            Error::Other {
                message: err.to_string(),
                hint: Some(format!(
                    "{hint}; `xzup unlock --force` would only remove the lock file, not stop that run"
                )),
            }
        }
        LockError::Io { .. } => Error::Lock(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_names_the_action_and_the_record() {
        let record: LockRecord = serde_json::from_value(serde_json::json!({
            "pid": 42, "host": "box", "command": "apply",
            "started_at": "2026-11-25T19:30:00.000Z",
        }))
        .unwrap();
        let cases = [
            (
                Unlocked::NoLock,
                serde_json::json!({"action": "none", "lock": null}),
            ),
            (
                Unlocked::ClearedStale(Some(record.clone())),
                serde_json::json!({"action": "cleared-stale", "lock": record}),
            ),
            (
                Unlocked::RemovedHeld(None),
                serde_json::json!({"action": "removed-held", "lock": null}),
            ),
        ];
        for (unlocked, expected) in cases {
            let doc = serde_json::to_value(UnlockReport::new(&unlocked)).unwrap();
            assert_eq!(doc, expected);
        }
    }
}
