//! `archive` (`--backup-mode precopy`), once the new stack is up: the run's verified
//! archive (the same tar.gz and manifest as a direct backup) made from the staging copy,
//! which is removed once the archive verifies. The run commits only after it. A resume
//! finishes an archive an interrupted attempt left half-made (written again); a finished
//! one that verifies is kept.

use crate::journal;
use crate::upgrade::context::Ctx;
use crate::upgrade::error::StepError;
use crate::upgrade::step::Step;

use super::backup::write_archive;
use super::precopy::remove_staging;

pub(super) struct Archive;

impl Step for Archive {
    fn id(&self) -> journal::Step {
        journal::Step::Archive
    }

    fn skip_reason(&self, ctx: &Ctx<'_>) -> Option<String> {
        ctx.run()
            .precopy_fallback
            .as_ref()
            .map(|_| "no pre-copy: the backup was made while the stack was down".into())
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        finish_archive(ctx, false)
    }
}

/// Writes (or keeps, when one verifies already) the archive from the staging copy, and
/// removes the copy once the archive is verified.
pub(super) fn finish_archive(ctx: &mut Ctx<'_>, in_rollback: bool) -> Result<String, StepError> {
    let staging = ctx.staging_dir();
    let archive = ctx.archive_path();
    if !staging.is_dir() && !archive.exists() {
        return Err(StepError::failed(format!(
            "neither the staging copy `{}` nor the archive is there",
            ctx.rel(&staging)
        )));
    }
    let detail = write_archive(ctx, journal::Step::Archive, Some(&staging), in_rollback)?;
    if ctx.run().backup.as_ref().is_some_and(|b| b.verified) {
        remove_staging(&staging)?;
        return Ok(format!("{detail}; staging copy removed"));
    }
    Ok(detail)
}
