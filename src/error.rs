//! The one error type commands return. Each core module has its own typed error; this
//! enum gathers them so the exit code and the hint are decided in one place.

use std::path::PathBuf;

use crate::exit::ExitStatus;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Tiers(#[from] crate::tiers::TiersError),
    #[error(transparent)]
    Compose(#[from] crate::compose::ComposeError),
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),
    #[error(transparent)]
    Backup(#[from] crate::backup::BackupError),
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    #[error(transparent)]
    Deployment(#[from] crate::deployment::DeploymentError),
    #[error(transparent)]
    Live(#[from] crate::live::LiveError),
    /// An output path on the command line that would replace what must not be replaced.
    #[error(transparent)]
    Output(#[from] crate::outpath::OutputError),
    /// Boxed: its variants carry several messages, and every `Result` pays for the largest.
    #[error(transparent)]
    Upgrade(Box<crate::upgrade::UpgradeError>),
    /// A bad value on the command line that clap could not catch.
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// A file-system operation failed.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Anything else, with a hint for what to do.
    #[error("{message}")]
    Other {
        message: String,
        hint: Option<String>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<crate::upgrade::UpgradeError> for Error {
    fn from(e: crate::upgrade::UpgradeError) -> Error {
        Error::Upgrade(Box::new(e))
    }
}

impl Error {
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// What the operator should do next, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Tiers(e) => e.hint(),
            Error::Compose(e) => e.hint(),
            Error::Docker(e) => e.hint(),
            Error::Backup(e) => e.hint(),
            Error::Journal(e) => e.hint(),
            Error::Lock(e) => e.hint(),
            Error::Deployment(e) => e.hint(),
            Error::Output(e) => e.hint(),
            Error::Live(e) => e.hint(),
            Error::Upgrade(e) => e.hint(),
            Error::Usage { hint, .. } | Error::Other { hint, .. } => hint.clone(),
            Error::Io { .. } => None,
        }
    }

    /// The process exit status this error ends the run with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Usage { .. } => ExitStatus::Usage,
            Error::Output(crate::outpath::OutputError::Io { .. }) => ExitStatus::Failure,
            Error::Output(_) => ExitStatus::Usage,
            Error::Deployment(e) if e.is_usage() => ExitStatus::Usage,
            Error::Compose(e) if e.is_usage() => ExitStatus::Usage,
            // Ctrl-C during `backup`, `backups verify` or `restore` (an upgrade's own
            // interruption rolls back and ends as an `UpgradeError`).
            Error::Backup(crate::backup::BackupError::Interrupted(_)) => ExitStatus::Interrupted,
            Error::Upgrade(e) => e.exit_status(),
            _ => ExitStatus::Failure,
        }
    }
}
