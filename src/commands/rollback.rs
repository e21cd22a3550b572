//! `xzup rollback [RUN]`: back to the stack as it was before a run.

use crate::cli::RollbackArgs;
use crate::deployment::{Deployment, DeploymentOptions};
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::journal::RunSettings;
use crate::printer::Printer;
use crate::upgrade;

use super::run_output::{StepPrinter, summary};

pub(crate) fn run(
    opts: &DeploymentOptions,
    printer: &Printer,
    args: &RollbackArgs,
) -> Result<ExitStatus> {
    let deployment = Deployment::open(opts)?;
    let settings = RunSettings {
        wait_timeout_secs: args.wait_timeout,
        restore_data: super::apply::restore_data(args.restore_data),
        ..RunSettings::default()
    };
    crate::interrupt::install();
    let mut observer = StepPrinter::new(printer);
    let result = upgrade::rollback_run(&deployment, args.run.as_deref(), settings, &mut observer);
    drop(observer);
    let outcome = result?;
    summary(printer, &outcome.run);
    Ok(ExitStatus::Success)
}
