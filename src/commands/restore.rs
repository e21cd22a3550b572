//! `xzup restore FILE [--to DIR]`: verify, extract beside the target, swap in; whatever
//! stood in the way is moved aside, never deleted (see [`crate::backup::restore`]).

use crate::backup;
use crate::deployment::{Deployment, DeploymentOptions};
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::printer::{Printer, Style};
use crate::units::human_bytes;

use super::run_output::BarProgress;
use super::{absolute, display};

pub(crate) fn run(
    opts: &DeploymentOptions,
    printer: &Printer,
    args: &crate::cli::RestoreArgs,
) -> Result<ExitStatus> {
    let archive = absolute(&args.file)?;
    let target = match &args.to {
        Some(to) => absolute(to)?,
        None => Deployment::open(opts)?.dir,
    };
    // Swapping a datadir under a running mysqld would leave it writing to the quarantined
    // copy: refuse while the db or web container of this deployment runs.
    if let Ok(deployment) = &Deployment::open(opts)
        && deployment.dir == target
        && let Ok(compose) = deployment.compose()
    {
        // Which services hold the data must be known to tell whether they run.
        let roles = deployment.roles(&compose)?;
        match backup::running_data_services(&deployment.dir, &compose, &roles) {
            Ok(running) if !running.is_empty() => {
                return Err(Error::Other {
                    message: format!(
                        "{running}: restoring data under a running service would corrupt it"
                    ),
                    hint: Some(format!(
                        "stop the stack first: `docker compose -f {} down`",
                        crate::plan::display_rel(&deployment.dir, &compose.path)
                    )),
                });
            }
            Ok(_) => {}
            Err(e) => printer.debug(format_args!("could not check for running containers: {e}")),
        }
    }
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
    crate::interrupt::install();
    let mut progress = BarProgress::new(printer);
    let report = backup::restore(&archive, &target, &stamp, &mut progress)?;
    progress.finish();

    if !report.ownership_restored {
        printer.warn(
            "not running as root: restored files belong to you, not to their original owners",
        );
    }
    if let Some(leftover) = &report.leftover {
        printer.warn(format_args!(
            "`{}` was left behind: look inside before removing it",
            leftover.display()
        ));
    }
    if printer.is_json() {
        printer.json(&report);
        return Ok(ExitStatus::Success);
    }
    let dir = &report.target;
    printer.out(format_args!(
        "Restored {} from `{}` into `{}`: {} files, {} of data, {}.",
        report.restored.join(", "),
        archive.display(),
        dir.display(),
        report.files,
        human_bytes(report.data_bytes),
        printer.paint("verified", Style::Good),
    ));
    for q in &report.quarantined {
        printer.out(format_args!(
            "Moved aside: {} -> {}",
            display(dir, &q.path),
            display(dir, &q.moved_to)
        ));
    }
    Ok(ExitStatus::Success)
}
