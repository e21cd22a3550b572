//! `rollback-check`: waits until the old stack runs and is healthy (`--wait-timeout`; at
//! least its default in an upgrade's rollback).

use std::time::Duration;

use crate::journal::{self, RunKind, RunSettings};
use crate::upgrade::context::Ctx;
use crate::upgrade::error::StepError;
use crate::upgrade::step::Step;

use super::stack::wait_healthy_for;
use super::targets::targets;

pub(super) struct RollbackCheck;

impl Step for RollbackCheck {
    fn id(&self) -> journal::Step {
        journal::Step::RollbackCheck
    }

    fn state_if_failed(&self) -> &'static str {
        "the old stack was started but is not healthy"
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        let t = targets(ctx)?;
        let compose = ctx.compose(&t.back_to)?;
        ctx.observer
            .waiting("waiting for the old stack to be healthy");
        let timeout = rollback_wait(ctx.run().kind, ctx.run().settings.wait_timeout_secs);
        let healthy = wait_healthy_for(ctx, &compose, journal::Step::RollbackCheck, timeout)?;
        super::images::check_kept(ctx)?;
        Ok(healthy)
    }
}

/// How long the rollback of an upgrade waits for the old stack: at least the default
/// `--wait-timeout`. A short `--wait-timeout` is the operator's patience with the *new*
/// stack; the old one was healthy before the run, and giving up on it early would leave
/// the deployment down (the wait ends as soon as it is healthy). A manual rollback run
/// waits what it was given.
fn rollback_wait(kind: RunKind, given: u64) -> Duration {
    Duration::from_secs(match kind {
        RunKind::Apply => given.max(RunSettings::default().wait_timeout_secs),
        RunKind::Rollback => given,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upgrades_rollback_waits_at_least_the_default_for_the_old_stack() {
        let default = RunSettings::default().wait_timeout_secs;
        let secs = Duration::from_secs;
        assert_eq!(rollback_wait(RunKind::Apply, 1), secs(default));
        assert_eq!(
            rollback_wait(RunKind::Apply, default + 100),
            secs(default + 100)
        );
        assert_eq!(rollback_wait(RunKind::Rollback, 1), secs(1));
    }
}
