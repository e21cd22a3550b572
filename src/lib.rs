//! xzup: upgrade a xiaozhi-esp32-server Docker Compose deployment from one resource tier
//! to another, with a verified backup, a journal, and a way back.
//!
//! `docs/ARCHITECTURE.md` maps the modules and how a run flows through them.

pub mod backup;
pub mod cli;
pub(crate) mod commands;
pub(crate) mod compose;
pub mod datapath;
pub(crate) mod db_flags;
pub(crate) mod deployment;
pub(crate) mod diff;
pub mod docker;
pub(crate) mod error;
pub(crate) mod exit;
pub(crate) mod fsutil;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod host;
pub(crate) mod http;
pub(crate) mod images;
pub(crate) mod interrupt;
pub(crate) mod journal;
pub(crate) mod live;
pub mod lock;
pub(crate) mod outpath;
pub(crate) mod plan;
pub(crate) mod printer;
pub(crate) mod roles;
pub(crate) mod secrets;
pub(crate) mod settings;
pub(crate) mod sizing;
pub(crate) mod staging;
pub(crate) mod state;
pub(crate) mod tiers;
pub mod units;
pub(crate) mod upgrade;
pub(crate) mod verify;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use crate::exit::ExitStatus;

/// Parses `args`, runs the command, and maps the outcome to an exit code.
pub fn main_entry(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let status = if err.use_stderr() {
                ExitStatus::Usage
            } else {
                ExitStatus::Success
            };
            let _ = err.print();
            return status.into();
        }
    };
    commands::run(cli).into()
}
