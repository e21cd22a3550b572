//! `write-compose`: writes `docker-compose-<tier>.yml` atomically, with the source file's
//! mode; a different file already there is kept aside first. The source is never touched,
//! except when it already has the tier's name: then it is rewritten in place, the original
//! kept aside (and in the run dir, which a rollback writes back).

use std::os::unix::fs::PermissionsExt;

use crate::fsutil;
use crate::journal;
use crate::upgrade::context::Ctx;
use crate::upgrade::error::StepError;
use crate::upgrade::step::Step;

pub(super) struct WriteCompose;

impl Step for WriteCompose {
    fn id(&self) -> journal::Step {
        journal::Step::WriteCompose
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        let (path, new) = ctx.new_file()?;
        let (previous_path, _) = ctx.previous_file()?;
        if std::fs::read(&path).is_ok_and(|old| old == new.text.as_bytes()) {
            return Ok(format!("{} (already written)", ctx.rel(&path)));
        }
        let canonical = |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or(p.to_path_buf());
        let is_source = canonical(&path) == canonical(&previous_path);
        if let Some(moved) = fsutil::quarantine(&path)? {
            // A source already named for the tier is rewritten in place: said as such, as
            // the plan says it, not as a stray file that "was different".
            let message = if is_source {
                format!(
                    "{} is the source: rewritten in place, the original kept aside as {} (and in the run's record; a rollback puts it back)",
                    ctx.rel(&path),
                    moved.display()
                )
            } else {
                format!(
                    "{} was different; kept aside as {}",
                    ctx.rel(&path),
                    moved.display()
                )
            };
            ctx.warn(&message)?;
        }
        let mode = std::fs::metadata(&previous_path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0o600);
        fsutil::write_atomic(&path, new.text.as_bytes(), mode)?;
        Ok(ctx.rel(&path))
    }
}
