//! xzup: upgrade a xiaozhi-esp32-server Docker Compose deployment from one resource tier
//! to another, with a verified backup, a journal, and a way back.
//!
//! `docs/ARCHITECTURE.md` maps the modules and how a run flows through them.

pub mod backup;
pub mod cli;
pub mod commands;
pub mod compose;
pub mod deployment;
pub mod docker;
pub mod error;
pub mod exit;
pub mod fsutil;
pub mod host;
pub mod interrupt;
pub mod journal;
pub mod lock;
pub mod plan;
pub mod printer;
pub mod roles;
pub mod secrets;
pub mod settings;
pub mod state;
pub mod tiers;
pub mod units;
pub mod upgrade;
pub mod verify;

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
