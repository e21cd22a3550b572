//! `xzup restore FILE [--to DIR]`: verify, extract beside the target, swap in; whatever
//! stood in the way is moved aside, never deleted (see [`crate::backup::restore`]).

use crate::backup::{self, Destination};
use crate::deployment::{Deployment, DeploymentOptions};
use crate::docker::Docker;
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
    // A missing or foreign file is refused before the lock (and its file) is taken.
    backup::read_manifest(&archive)?;
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
    crate::interrupt::install();
    let mut progress = BarProgress::new(printer);
    let report = match &args.to {
        // Elsewhere: every path by its name in the archive, as `tar -xzf` would.
        Some(to) => {
            let to = absolute(to)?;
            if let Ok(deployment) = Deployment::open(opts)
                && deployment.dir == to
                && let Ok(compose) = deployment.compose()
            {
                // Which services hold the data must be known to tell whether they run.
                let roles = deployment.roles(&compose)?;
                refuse_if_running(printer, &deployment, &compose, &roles)?;
            }
            // Into the deployment dir: not while another xzup works on it.
            let _lock = match Deployment::open(opts) {
                Ok(deployment) if deployment.dir == to => {
                    Some(super::take_lock(&deployment, "restore", printer)?)
                }
                _ => None,
            };
            backup::restore(&archive, &to, &stamp, &mut progress)?
        }
        // In place: each path back where the deployment has it now (a volume into the
        // volume, a symlinked data dir where it points).
        None => {
            let deployment = Deployment::open(opts)?;
            let compose = match deployment.compose() {
                Ok(compose) => compose,
                Err(e) => {
                    // No compose file to say where things go: by name, as before.
                    printer.debug(format_args!("restoring by name: {e}"));
                    let _lock = super::take_lock(&deployment, "restore", printer)?;
                    let report = backup::restore(&archive, &deployment.dir, &stamp, &mut progress)?;
                    progress.finish();
                    return finish(printer, &archive, report);
                }
            };
            let roles = deployment.roles(&compose)?;
            refuse_if_running(printer, &deployment, &compose, &roles)?;
            let docker = Docker::new().with_secrets(compose.secrets());
            let paths = super::data_paths(&deployment, &compose, &roles, &[], &docker)?;
            // An `apply` between its down and its up would find its data swapped.
            let _lock = super::take_lock(&deployment, "restore", printer)?;
            let destination = Destination::InPlace {
                dir: &deployment.dir,
                paths: &paths,
                volumes: &docker,
            };
            backup::restore_to(&archive, &destination, &stamp, &mut progress)?
        }
    };
    progress.finish();
    finish(printer, &archive, report)
}

/// Prints what the restore did.
fn finish(
    printer: &Printer,
    archive: &std::path::Path,
    report: backup::RestoreReport,
) -> Result<ExitStatus> {
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
    for place in &report.places {
        if let Some(volume) = &place.volume {
            printer.out(format_args!("Put {} into volume `{volume}`.", place.root));
        } else if place.path != dir.join(&place.root) {
            printer.out(format_args!(
                "Put {} at {}.",
                place.root,
                display(dir, &place.path)
            ));
        }
    }
    for q in &report.quarantined {
        match (&q.volume, &q.moved_to_volume) {
            (Some(volume), Some(moved)) => printer.out(format_args!(
                "Moved aside: volume `{volume}` -> volume `{moved}` (`docker volume ls`)"
            )),
            _ => printer.out(format_args!(
                "Moved aside: {} -> {}",
                display(dir, &q.path),
                display(dir, &q.moved_to)
            )),
        }
    }
    Ok(ExitStatus::Success)
}

/// Swapping a datadir under a running mysqld would leave it writing to the quarantined
/// copy: refuses while the db or web container of this deployment runs.
fn refuse_if_running(
    printer: &Printer,
    deployment: &Deployment,
    compose: &crate::compose::ComposeFile,
    roles: &crate::roles::RoleMap,
) -> Result<()> {
    match backup::running_data_services(&deployment.dir, compose, roles) {
        Ok(running) if !running.is_empty() => Err(Error::Other {
            message: format!("{running}: restoring data under a running service would corrupt it"),
            hint: Some(format!(
                "stop the stack first: `docker compose -f {} down`",
                crate::plan::display_rel(&deployment.dir, &compose.path)
            )),
        }),
        Ok(_) => Ok(()),
        Err(e) => {
            printer.debug(format_args!("could not check for running containers: {e}"));
            Ok(())
        }
    }
}
