//! STUB: being written.

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("not implemented yet")]
    Todo,
}

impl DockerError {
    pub fn hint(&self) -> Option<String> {
        None
    }
}
