//! Process exit statuses, decided in one place and listed in the README.

/// How a run of xzup ended, as the operator (or CI) sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Done, or nothing to change.
    Success,
    /// An error: nothing was changed, or the message says what was.
    Failure,
    /// `--detailed-exitcode`: changes are pending.
    Changes,
    /// The upgrade failed and the old stack is back and healthy.
    RolledBack,
    /// The upgrade failed and so did the rollback; the message says what to run next.
    RollbackFailed,
    /// The command line was wrong.
    Usage,
    /// Interrupted by the operator outside an upgrade.
    Interrupted,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Changes => 2,
            ExitStatus::RolledBack => 3,
            ExitStatus::RollbackFailed => 4,
            ExitStatus::Usage => 64,
            ExitStatus::Interrupted => 130,
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status.code())
    }
}
