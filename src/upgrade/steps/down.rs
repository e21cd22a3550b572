//! `down`: stops the stack with the file it was started with, then checks that no
//! container of the project still runs.

use crate::docker::DownOptions;
use crate::journal;

use super::stack::confirm_stopped;
use crate::upgrade::context::Ctx;
use crate::upgrade::error::StepError;
use crate::upgrade::hooks::{self, Point};
use crate::upgrade::step::Step;

pub(super) struct Down;

impl Step for Down {
    fn id(&self) -> journal::Step {
        journal::Step::Down
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        let (path, _) = ctx.previous_file()?;
        let compose = ctx.compose(&path)?;
        ctx.observer.waiting("stopping the stack");
        compose.down(&DownOptions::default())?;
        hooks::reached(Point::Middle(self.id()), ctx.stop_requested);
        confirm_stopped(ctx)
    }
}
