//! The step engine: `apply`, `resume`, automatic and manual `rollback`.
//!
//! A run is a journaled sequence of steps (see [`crate::journal`]): each is marked
//! *started* before it runs and *done* after, so a crash at any point leaves a journal that
//! says where things stand. Every step is idempotent; `resume` redoes a step that started
//! and did not finish. When a step after `down` fails (or the operator presses Ctrl-C),
//! the rollback steps run the same way and bring the old stack back.
//!
//! The files, each depending only on those above it:
//!
//! - [`error`]: the engine's errors, and the one rule for what goes wrong inside a step
//!   (its own failure → rollback; the journal or state not written → the run stops).
//! - [`observer`]: where the engine reports what it does ([`Observer`]).
//! - [`hooks`]: test hooks (`XZUP_TEST_PAUSE_AT`, `XZUP_TEST_FAULT_AT`), compiled in only
//!   with `test-hooks`.
//! - [`context`]: what every step works with ([`context::Ctx`]), the run-dir copies.
//! - [`step`]: the one interface the loop drives ([`step::Step`], [`step::Sequence`]).
//! - [`engine`]: the loop — bookkeeping, failure → rollback, the outcome. No Docker.
//! - `steps/`: the steps, one file each, and the [`steps::STANDARD`] and [`steps::PRECOPY`] sequences.
//! - [`settings`]: run options given again to `resume`/`rollback`.
//! - [`run`] (`apply`, `resume`) and [`rollback`] (`rollback`): the entry points.
//!
//! The loop is unit-tested with scripted steps (`tests.rs`); the steps end to end against
//! a real engine in `tests/xzup/e2e_upgrade.rs` (automatic rollback, kill -9 and resume,
//! manual rollback).

mod context;
mod engine;
mod error;
pub(crate) mod hooks;
mod observer;
mod rollback;
mod run;
mod settings;
mod step;
mod steps;
#[cfg(test)]
mod tests;

pub use error::UpgradeError;
pub use observer::Observer;
pub use rollback::rollback_run;
pub use run::{RunRequest, apply, resume};
pub use settings::RunOverrides;
