//! `rollback-down`: stops what runs now (the new stack, or the one a manual rollback
//! leaves), with the file it was started with.

use crate::docker::DownOptions;
use crate::journal;
use crate::upgrade::context::{Ctx, NEW_COPY};
use crate::upgrade::error::StepError;
use crate::upgrade::step::Step;

use super::stack::confirm_stopped;
use super::targets::{stack_was_stopped, targets};

pub(super) struct RollbackDown;

impl Step for RollbackDown {
    fn id(&self) -> journal::Step {
        journal::Step::RollbackDown
    }

    fn state_if_failed(&self) -> &'static str {
        "the new stack may still run"
    }

    fn skip_reason(&self, ctx: &Ctx<'_>) -> Option<String> {
        (!stack_was_stopped(ctx))
            .then(|| "not needed: the run stopped before the stack went down".into())
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        let t = targets(ctx)?;
        // Down with the file the stack was started with; the run's own copies stand in
        // when it is gone (Compose needs only the service names to find the containers).
        let file = [
            t.current.clone(),
            ctx.run_dir().join(NEW_COPY),
            t.back_to_copy.clone(),
        ]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or(t.current);
        let compose = ctx.compose(&file)?;
        ctx.observer.waiting("stopping the stack");
        compose.down(&DownOptions::default())?;
        confirm_stopped(ctx)
    }
}
