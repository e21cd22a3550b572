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

/// STUB: the paths a backup of this deployment holds.
pub fn default_paths(
    compose: &crate::compose::ComposeFile,
    roles: &crate::roles::RoleMap,
    root: &std::path::Path,
    include: &[std::path::PathBuf],
) -> Vec<std::path::PathBuf> {
    let _ = (compose, roles, root, include);
    todo!()
}
