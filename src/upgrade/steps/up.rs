//! `up`: `up -d` with the new file, then waits until every service runs and is healthy
//! (`--wait-timeout`).

use crate::journal;
use crate::upgrade::context::Ctx;
use crate::upgrade::error::StepError;
use crate::upgrade::hooks::{self, Point};
use crate::upgrade::step::Step;

use super::stack::wait_healthy;

pub(super) struct Up;

impl Step for Up {
    fn id(&self) -> journal::Step {
        journal::Step::Up
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        let (path, _) = ctx.new_file()?;
        let compose = ctx.compose(&path)?;
        ctx.observer
            .waiting("starting the stack and waiting for it to be healthy");
        compose.up()?;
        hooks::reached(Point::Middle(self.id()), ctx.stop_requested);
        wait_healthy(ctx, &compose, journal::Step::Up)
    }
}
