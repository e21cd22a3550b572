//! STUB: the step engine (being written).

use crate::exit::ExitStatus;

/// Errors of an upgrade run.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error("not implemented yet")]
    Todo,
}

impl UpgradeError {
    pub fn hint(&self) -> Option<String> {
        None
    }

    pub fn exit_status(&self) -> ExitStatus {
        ExitStatus::Failure
    }
}
