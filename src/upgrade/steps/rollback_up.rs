//! `rollback-up`: `up -d` with the file to return to.

use crate::journal;
use crate::upgrade::context::Ctx;
use crate::upgrade::error::StepError;
use crate::upgrade::step::Step;

use super::targets::{stack_was_stopped, targets};

pub(super) struct RollbackUp;

impl Step for RollbackUp {
    fn id(&self) -> journal::Step {
        journal::Step::RollbackUp
    }

    fn state_if_failed(&self) -> &'static str {
        "the stack is down"
    }

    fn skip_reason(&self, ctx: &Ctx<'_>) -> Option<String> {
        (!stack_was_stopped(ctx)).then(|| "not needed: the stack was never stopped".into())
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        let t = targets(ctx)?;
        let compose = ctx.compose(&t.back_to)?;
        // The exact images of before, whatever was tagged or pruned meanwhile.
        let images = super::images::tag_back(ctx)?;
        ctx.observer.waiting("starting the old stack");
        compose.up()?;
        Ok(format!("started with {}{images}", ctx.rel(&t.back_to)))
    }
}
