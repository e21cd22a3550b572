//! `xzup plan` (STUB: being written).

use crate::deployment::DeploymentOptions;
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::printer::Printer;

pub(crate) fn run(
    _opts: &DeploymentOptions,
    _printer: &Printer,
    _args: &crate::cli::PlanArgs,
) -> Result<ExitStatus> {
    Err(super::not_yet("plan"))
}
