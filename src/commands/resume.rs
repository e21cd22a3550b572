//! `xzup resume`: continue the interrupted run from its journal.

use crate::cli::ResumeArgs;
use crate::deployment::{Deployment, DeploymentOptions};
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::upgrade::{self, RunOverrides};

use super::run_output::{StepPrinter, summary};

pub(crate) fn run(
    opts: &DeploymentOptions,
    printer: &Printer,
    args: &ResumeArgs,
) -> Result<ExitStatus> {
    let deployment = Deployment::open(opts)?;
    crate::interrupt::install();
    let mut observer = StepPrinter::new(printer);
    // The run goes on with the options it was started with (they are in its journal),
    // except those given again here.
    let overrides = RunOverrides {
        wait_timeout_secs: args.wait_timeout,
        verify_window_secs: args.verify_window,
        strict: args.strict.then_some(true),
        restore_data: args.restore_data.map(super::apply::restore_data),
    };
    let result = upgrade::resume(&deployment, &overrides, &mut observer);
    drop(observer);
    let outcome = result?;
    summary(printer, &outcome.run);
    Ok(ExitStatus::Success)
}
