//! `rollback-activate`: makes the old compose file active again — its bytes as the run
//! recorded them (whatever else stands at that path is kept aside), and `state.json`
//! names it.

use crate::fsutil;
use crate::journal::{self, sha256_hex};
use crate::upgrade::context::Ctx;
use crate::upgrade::error::StepError;
use crate::upgrade::step::Step;

use super::targets::targets;

pub(super) struct RollbackActivate;

impl Step for RollbackActivate {
    fn id(&self) -> journal::Step {
        journal::Step::RollbackActivate
    }

    fn state_if_failed(&self) -> &'static str {
        "the stack is down"
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        let t = targets(ctx)?;
        let on_disk = std::fs::read(&t.back_to).ok();
        if on_disk.as_deref().map(sha256_hex).as_deref() != Some(t.back_to_sha256.as_str()) {
            let bytes = std::fs::read(&t.back_to_copy)?;
            if sha256_hex(&bytes) != t.back_to_sha256 {
                return Err(StepError::failed(format!(
                    "the kept copy {} does not match the journal's checksum",
                    t.back_to_copy.display()
                )));
            }
            if let Some(moved) = fsutil::quarantine(&t.back_to)? {
                let message = format!(
                    "{} had changed; kept aside as {}",
                    ctx.rel(&t.back_to),
                    moved.display()
                );
                ctx.warn(&message)?;
            }
            fsutil::write_atomic(&t.back_to, &bytes, 0o644)?;
        }
        let (active, run) = (
            journal::relative_to(&ctx.dir, &t.back_to),
            ctx.run().id.clone(),
        );
        let tiers_file = ctx.run().tiers_file.clone();
        ctx.update_state(|state| {
            state.active_compose = Some(active);
            state.tier = Some(t.back_to_tier.clone());
            state.tiers_file = tiers_file;
            state.last_run = Some(run);
        })?;
        Ok(format!("{} is active", ctx.rel(&t.back_to)))
    }
}
