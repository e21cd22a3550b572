//! `xzup rollback [RUN]`: back to the stack as it was before a run.

use crate::cli::RollbackArgs;
use crate::deployment::{Deployment, DeploymentOptions};
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::upgrade::{self, RunOverrides};

use super::run_output::{StepPrinter, summary};

pub(crate) fn run(
    opts: &DeploymentOptions,
    printer: &Printer,
    args: &RollbackArgs,
) -> Result<ExitStatus> {
    let deployment = Deployment::open(opts)?;
    let overrides = RunOverrides {
        wait_timeout_secs: args.wait_timeout,
        restore_data: args.restore_data.map(super::apply::restore_data),
        ..RunOverrides::default()
    };
    crate::interrupt::install();
    let mut observer = StepPrinter::new(printer);
    let result = upgrade::rollback_run(&deployment, args.run.as_deref(), &overrides, &mut observer);
    drop(observer);
    let outcome = result?;
    summary(printer, &outcome.run);
    Ok(ExitStatus::Success)
}
