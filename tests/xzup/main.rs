//! xzup's integration tests: one test binary that runs the built `xzup`.
//!
//! Tests that need a Docker engine live in the `e2e_*` modules; they skip (saying why) on a
//! machine without Docker, and never skip under `CI=true`.

mod harness;
mod stack;

mod backup;
mod backup_safety;
mod bad_input;
mod cli;
mod corpus;
mod e2e_data;
mod e2e_doctor;
mod e2e_driver;
mod e2e_engine_faults;
mod e2e_faults;
mod e2e_images;
mod e2e_live;
mod e2e_partial;
mod e2e_precopy;
mod e2e_upgrade;
mod images_cli;
mod journal;
mod paths;
mod roles;
mod tiers;
