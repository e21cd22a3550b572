//! `xzup apply --tier T`: upgrade the running stack. With `--dry-run`, the plan only.

use crate::cli::ApplyArgs;
use crate::deployment::DeploymentOptions;
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::printer::Printer;

pub(crate) fn run(
    opts: &DeploymentOptions,
    printer: &Printer,
    args: &ApplyArgs,
) -> Result<ExitStatus> {
    if args.dry_run {
        let (_, plan) =
            super::plan::compute(opts, &args.target, args.backup.backup_dir.as_deref())?;
        super::plan::print(printer, &plan);
        return Ok(super::plan::exit_status(&plan, args.detailed_exitcode));
    }
    Err(super::not_yet("apply"))
}
