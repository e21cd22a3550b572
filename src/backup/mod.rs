//! STUB: being written.

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("not implemented yet")]
    Todo,
}

impl BackupError {
    pub fn hint(&self) -> Option<String> {
        None
    }
}
