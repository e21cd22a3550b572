//! `rollback-check`: waits until the old stack runs and is healthy (`--wait-timeout`).

use crate::journal;
use crate::upgrade::context::Ctx;
use crate::upgrade::error::StepError;
use crate::upgrade::step::Step;

use super::stack::wait_healthy;
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
        wait_healthy(ctx, &compose)
    }
}
