//! `xzup restore FILE [--to DIR]`: verify, extract beside the target, swap in; whatever
//! stood in the way is moved aside, never deleted (see [`crate::backup::restore`]).

use crate::backup;
use crate::compose::ComposeFile;
use crate::deployment::{Deployment, DeploymentOptions};
use crate::docker::{Compose, Docker};
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::printer::{Printer, Style};
use crate::roles::Role;
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
    // Swapping a datadir under a running mysqld would leave it writing to the quarantined
    // copy: refuse while the db or web container of this deployment runs.
    if let Ok(deployment) = &Deployment::open(opts)
        && deployment.dir == target
        && let Ok(compose) = deployment.compose()
    {
        match running_data_services(printer, deployment, &compose) {
            Some(running) if !running.is_empty() => {
                return Err(Error::Other {
                    message: format!(
                        "{} running: restoring data under a running service would corrupt it",
                        are_running(&running)
                    ),
                    hint: Some(format!(
                        "stop the stack first: `docker compose -f {} down`",
                        crate::plan::display_rel(&deployment.dir, &compose.path)
                    )),
                });
            }
            _ => {}
        }
    }
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

/// The db and web services of the deployment whose containers run (or restart, or are
/// paused); `None` when no Docker engine answers, so nothing could be checked.
pub(crate) fn running_data_services(
    printer: &Printer,
    deployment: &Deployment,
    compose: &ComposeFile,
) -> Option<Vec<String>> {
    let docker = Docker::new().with_secrets(compose.secrets());
    let names: Vec<String> = compose.container_names().into_values().collect();
    let containers = Compose::open(&docker, &deployment.dir, &compose.path, &names)
        .and_then(|(c, _)| docker.project_containers(c.project()));
    let containers = match containers {
        Ok(containers) => containers,
        Err(e) => {
            printer.debug(format_args!("could not check for running containers: {e}"));
            return None;
        }
    };
    // The upstream file pins container names, so the project found by name may be another
    // checkout's stack: only containers started from this dir count (Compose records it;
    // one without the record counts, to be safe).
    let here = std::fs::canonicalize(&deployment.dir).ok();
    let ours = |c: &crate::docker::ContainerInfo| {
        c.working_dir
            .as_deref()
            .is_none_or(|w| std::fs::canonicalize(w).ok() == here)
    };
    let running = [Role::Db, Role::Web]
        .iter()
        .map(|role| deployment.roles.service(*role))
        .filter(|service| {
            containers.iter().any(|c| {
                c.service.as_deref() == Some(*service)
                    && ours(c)
                    && matches!(c.status.as_str(), "running" | "restarting" | "paused")
            })
        })
        .map(String::from)
        .collect();
    Some(running)
}

/// `` `a` is `` or `` `a`, `b` are ``.
pub(crate) fn are_running(services: &[String]) -> String {
    let names = format!("`{}`", services.join("`, `"));
    if services.len() == 1 {
        format!("{names} is")
    } else {
        format!("{names} are")
    }
}
