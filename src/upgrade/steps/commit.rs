//! `commit`: the new file becomes the deployment's active compose file (`state.json`).

use crate::journal;
use crate::upgrade::context::Ctx;
use crate::upgrade::error::StepError;
use crate::upgrade::step::Step;

pub(super) struct Commit;

impl Step for Commit {
    fn id(&self) -> journal::Step {
        journal::Step::Commit
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        let new = ctx
            .run()
            .new_compose
            .clone()
            .ok_or_else(|| StepError::failed("the journal names no new compose file"))?;
        let (tier, run) = (ctx.run().tier_to.clone(), ctx.run().id.clone());
        let tiers_file = ctx.run().tiers_file.clone();
        ctx.update_state(|state| {
            state.active_compose = Some(new.path.clone());
            state.tier = Some(tier);
            state.tiers_file = tiers_file;
            state.last_run = Some(run);
        })?;
        Ok(format!("{} is active", new.path.display()))
    }
}
