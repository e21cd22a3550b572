//! STUB: being written.

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("not implemented yet")]
    Todo,
}

impl JournalError {
    pub fn hint(&self) -> Option<String> {
        None
    }
}
