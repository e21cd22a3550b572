//! `xzup restore FILE [--to DIR]`: verify, extract beside the target, swap in; whatever
//! stood in the way is moved aside, never deleted (see [`crate::backup::restore`]).

use crate::backup;
use crate::deployment::{Deployment, DeploymentOptions};
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::printer::{Printer, Style};
use crate::units::human_bytes;

use super::backup::{BarProgress, absolute, display};

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
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
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
        printer.json(&serde_json::to_value(&report).expect("reports serialise"));
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
