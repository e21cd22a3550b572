//! Sizing truth: which tier this deployment needs. `xzup doctor` samples the running stack
//! over a window and reports against the plan's thresholds; `xzup recommend` turns those
//! samples (or days of them, recorded) into the smallest tier per role.
//!
//! - `sample.rs`: the window — `docker stats` per tick, MySQL/Redis counters through
//!   `docker exec`, the db's data size, the server's processes, HTTP round-trips;
//! - `stats.rs`: percentiles, counter deltas across restarts;
//! - `findings.rs`: the summaries and the findings, each with evidence and what to do;
//! - `record.rs`: `--record`, compact samples in `.xzup/usage/`, bounded;
//! - `recommend.rs`: the tier per role, for the stack, and the `xzup apply` to run;
//! - `change.rs`: the before/after a run records in its journal (verify samples a window).
//!
//! Nothing here prints; the commands (`commands/doctor.rs`, `commands/recommend.rs`) do.

pub mod change;
pub mod findings;
pub mod recommend;
pub mod record;
pub mod sample;
pub mod stats;
