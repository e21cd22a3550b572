//! STUB: being written.

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("not implemented yet")]
    Todo,
}

impl LockError {
    pub fn hint(&self) -> Option<String> {
        None
    }
}
