//! `xzup resume`: continue the interrupted run from its journal.

use crate::cli::RunOptions;
use crate::deployment::{Deployment, DeploymentOptions};
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::upgrade;

use super::run_output::{StepPrinter, summary};

pub(crate) fn run(
    opts: &DeploymentOptions,
    printer: &Printer,
    _args: &RunOptions,
) -> Result<ExitStatus> {
    let deployment = Deployment::open(opts)?;
    crate::interrupt::install();
    let mut observer = StepPrinter::new(printer);
    // The run goes on with the options it was started with (they are in its journal).
    let result = upgrade::resume(&deployment, &mut observer);
    drop(observer);
    let outcome = result?;
    summary(printer, &outcome.run);
    Ok(ExitStatus::Success)
}
