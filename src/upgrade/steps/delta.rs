//! `delta` (`--backup-mode precopy`), once the stack is down: the staging copy made
//! exactly the stopped state. Only files touched since the pre-copy began (mtime or ctime
//! not older than it, less a margin for the kernel's coarse file clock) or of another size
//! or mtime are read again; large ones are resynced block by block.

use std::time::{Duration, SystemTime};

use crate::journal;
use crate::staging::{self, Stats};
use crate::units::human_bytes;
use crate::upgrade::context::Ctx;
use crate::upgrade::error::StepError;
use crate::upgrade::step::Step;

/// Taken off the pre-copy's start: file times come from a clock that may lag the one
/// the journal reads by a tick; a file changed just before the copy began is read again.
const MARGIN: Duration = Duration::from_secs(2);

pub(super) struct Delta;

impl Step for Delta {
    fn id(&self) -> journal::Step {
        journal::Step::Delta
    }

    fn skip_reason(&self, ctx: &Ctx<'_>) -> Option<String> {
        ctx.run()
            .precopy_fallback
            .as_ref()
            .map(|_| "no pre-copy: the run backs up directly".into())
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        let staging = ctx.staging_dir();
        let began = ctx
            .run()
            .step(journal::Step::Precopy)
            .filter(|r| r.status == journal::StepStatus::Done)
            .map(|r| r.started_at)
            .ok_or_else(|| StepError::failed("the pre-copy was not done"))?;
        if !staging.is_dir() {
            return Err(StepError::failed(format!(
                "the staging copy `{}` is missing: `xzup rollback` puts the old stack back",
                ctx.rel(&staging)
            )));
        }
        let since = SystemTime::from(began) - MARGIN;
        let (_, previous) = ctx.previous_file()?;
        let include = ctx.run().settings.backup.include.clone();
        let paths = ctx.data_paths(&previous, &include)?;
        let mut total = Stats::default();
        let mut through = Vec::new();
        for path in &paths.paths {
            let dst = staging.join(&path.name);
            if let (Some(image), Some(volume)) = (&path.through_image, path.origin.volume()) {
                // Not readable here: copied whole now, through a container.
                super::precopy::remove_staging(&dst)?;
                if let Some(parent) = dst.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                crate::backup::stage_volume(volume, image, &dst)?;
                through.push(path.name.clone());
                continue;
            }
            let stats = staging::sync_tree(&path.host, &dst, since).map_err(|e| {
                StepError::failed(format!("could not bring the staging copy up to date: {e}"))
            })?;
            total.add(&stats);
        }
        let through = if through.is_empty() {
            String::new()
        } else {
            format!("; copied through a container: {}", through.join(", "))
        };
        Ok(format!(
            "staging copy = stopped state: {} file(s) read again ({}), {} large resynced ({} block(s) written), {} new, {} removed, {} unchanged{through}",
            total.files_copied + total.files_patched,
            human_bytes(total.bytes_read),
            total.files_patched,
            total.blocks_written,
            total.others_made,
            total.removed,
            total.unchanged
        ))
    }
}
