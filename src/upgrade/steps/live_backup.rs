//! `backup` of a live run: none by default — a live change touches no data, so nothing
//! needs one (said as the step's skip reason). With `--backup`, the verified archive of
//! the restart path, taken while the stack runs.

use crate::journal;
use crate::upgrade::context::Ctx;
use crate::upgrade::error::StepError;
use crate::upgrade::step::Step;

use super::backup::write_archive;

pub(super) struct LiveBackup;

impl Step for LiveBackup {
    fn id(&self) -> journal::Step {
        journal::Step::Backup
    }

    fn skip_reason(&self, ctx: &Ctx<'_>) -> Option<String> {
        (!ctx.run().settings.backup.live_backup)
            .then(|| "none taken: a live change touches no data (pass --backup for one)".into())
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        ctx.warn(
            "the backup is read while MariaDB/MySQL runs: its files are as a crash would leave them (InnoDB recovers them on start)",
        )?;
        write_archive(ctx, self.id(), None, false)
    }
}
