//! What the rollback steps work out from the journal: the compose files a rollback moves
//! between, and whether the run ever stopped the stack.

use std::path::PathBuf;

use crate::journal::{self, RunKind, Step};
use crate::upgrade::context::{Ctx, PREVIOUS_COPY};
use crate::upgrade::error::StepError;

/// The files a rollback moves between.
pub(super) struct Targets {
    /// The compose file of the stack that runs now (or was being started).
    pub current: PathBuf,
    /// The file to return to, the copy of its bytes the run kept, and their sha256.
    pub back_to: PathBuf,
    pub back_to_copy: PathBuf,
    pub back_to_sha256: String,
    /// The tier `back_to` was for.
    pub back_to_tier: String,
}

pub(super) fn targets(ctx: &Ctx<'_>) -> Result<Targets, StepError> {
    let run = ctx.run();
    let missing = || StepError::failed("the journal does not name both compose files");
    let previous = run.previous_compose.clone().ok_or_else(missing)?;
    let new = run.new_compose.clone().ok_or_else(missing)?;
    let back_to = run.rollback_target().cloned().ok_or_else(missing)?;
    Ok(match run.kind {
        RunKind::Apply => {
            let wrote_new = run.step_status(Step::WriteCompose).is_some();
            Targets {
                current: ctx.abs(if wrote_new { &new.path } else { &previous.path }),
                back_to: ctx.abs(&back_to.path),
                back_to_copy: ctx.run_dir().join(PREVIOUS_COPY),
                back_to_sha256: back_to.sha256,
                back_to_tier: run.tier_from.clone(),
            }
        }
        RunKind::Rollback => {
            let original = run
                .rolls_back
                .clone()
                .ok_or_else(|| StepError::failed("the journal names no run to undo"))?;
            Targets {
                current: ctx.abs(&previous.path),
                back_to: ctx.abs(&back_to.path),
                // The upgrade's own copy of the file it replaced.
                back_to_copy: journal::runs_dir(&ctx.dir.join(crate::state::STATE_DIR))
                    .join(original)
                    .join(PREVIOUS_COPY),
                back_to_sha256: back_to.sha256,
                back_to_tier: run.tier_to.clone(),
            }
        }
    })
}

/// Whether this run ever stopped the stack (an upgrade stopped before `down` did not).
pub(super) fn stack_was_stopped(ctx: &Ctx<'_>) -> bool {
    ctx.run().kind == RunKind::Rollback || ctx.run().step_status(Step::Down).is_some()
}
