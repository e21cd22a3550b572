//! One file per subcommand. Each is a thin function: resolve the arguments, call the
//! core, build its typed report, hand it to the printer (text or `--format json`), return
//! an exit status. No command file uses another's internals: what several share is here
//! (argument resolution) or in `run_output.rs` (how runs and long operations look).

mod apply;
mod backup;
mod backups;
mod doctor;
mod history;
mod image_args;
mod pin;
mod plan;
mod recommend;
mod render;
mod restore;
mod resume;
mod rollback;
mod run_output;
mod status;
mod tiers;
mod unlock;

use std::path::{Path, PathBuf};

use crate::cli::{Cli, ColorArg, Command, FormatArg, GlobalArgs};
use crate::deployment::{Deployment, DeploymentOptions};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::lock::{Lock, LockGuard};
use crate::printer::{ColorChoice, Format, Printer, Verbosity};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> ExitStatus {
    let printer = printer_for(&cli.global);
    printer.show_core_log();
    let opts = deployment_options(&cli.global);
    let result = match &cli.command {
        Command::Tiers => tiers::run(&opts, &printer),
        Command::Render(args) => render::run(&opts, &printer, args),
        Command::Plan(args) => plan::run(&opts, &printer, args),
        Command::Pin(args) => pin::run(&opts, &printer, args),
        Command::Apply(args) => apply::run(&opts, &printer, args),
        Command::Resume(args) => resume::run(&opts, &printer, args),
        Command::Rollback(args) => rollback::run(&opts, &printer, args),
        Command::Status => status::run(&opts, &printer),
        Command::History => history::run(&opts, &printer),
        Command::Unlock(args) => unlock::run(&opts, &printer, args),
        Command::Backup(args) => backup::run(&opts, &printer, args),
        Command::Backups(args) => backups::run(&opts, &printer, args),
        Command::Restore(args) => restore::run(&opts, &printer, args),
        Command::Doctor(args) => doctor::run(&opts, &printer, args),
        Command::Recommend(args) => recommend::run(&opts, &printer, args),
    };
    let status = match result {
        Ok(status) => status,
        Err(err) => report(&printer, &err),
    };
    output_failure(&printer, status)
}

/// The status once the output is accounted for. A closed stdout (`| head`) is no error;
/// any other failure to write the result (a full disk) is, when the command succeeded.
fn output_failure(printer: &Printer, status: ExitStatus) -> ExitStatus {
    let Some(e) = printer.stdout_error() else {
        return status;
    };
    printer.error(
        format_args!("the command ran to its end, but writing its output to stdout failed: {e}"),
        None,
    );
    match status {
        ExitStatus::Success | ExitStatus::Changes => ExitStatus::Failure,
        other => other,
    }
}

/// Prints an error and its hint; returns the exit status it ends the run with.
pub(crate) fn report(printer: &Printer, err: &Error) -> ExitStatus {
    printer.error(err, err.hint().as_deref());
    err.exit_status()
}

fn printer_for(global: &GlobalArgs) -> Printer {
    let format = match global.format {
        FormatArg::Text => Format::Text,
        FormatArg::Json => Format::Json,
    };
    let color = match global.color {
        ColorArg::Auto => ColorChoice::Auto,
        ColorArg::Always => ColorChoice::Always,
        ColorArg::Never => ColorChoice::Never,
    };
    let verbosity = if global.quiet {
        Verbosity::Quiet
    } else if global.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    Printer::new(format, color, verbosity)
}

fn deployment_options(global: &GlobalArgs) -> DeploymentOptions {
    DeploymentOptions {
        dir: global.dir.clone(),
        file: global.file.clone(),
        tiers_file: global.tiers_file.clone(),
        services: global.services.clone(),
    }
}

/// Resolves a FILE argument against the current directory.
pub(crate) fn absolute(path: &Path) -> Result<PathBuf, Error> {
    std::path::absolute(path).map_err(|e| Error::io("resolve", path, e))
}

/// Where archives go: `--backup-dir DIR` resolved as every output path is (relative to the
/// current directory, `..` and symlinks resolved) and refused when it is, or lies in, a data
/// path or a compose file of the deployment; else `DIR/backups`.
pub(crate) fn backup_dir(
    deployment: &crate::deployment::Deployment,
    data: &crate::datapath::DataPaths,
    arg: Option<&Path>,
) -> Result<PathBuf, Error> {
    let protected = crate::outpath::Protected::new(data, &deployment.state_dir());
    match arg {
        Some(arg) => Ok(crate::outpath::check_dir("--backup-dir", arg, &protected)?),
        None => Ok(deployment.backups_dir()),
    }
}

/// A path for people: relative to the deployment dir when inside it, in backticks.
pub(crate) fn display(dir: &Path, path: &Path) -> String {
    format!("`{}`", crate::plan::display_rel(dir, path))
}

/// The data paths of the deployment (what a backup takes, see [`crate::datapath`]): named
/// volumes are looked up through `docker`, for the project the running stack belongs to.
pub(crate) fn data_paths(
    deployment: &crate::deployment::Deployment,
    compose: &crate::compose::ComposeFile,
    roles: &crate::roles::RoleMap,
    include: &[PathBuf],
    docker: &crate::docker::Docker,
) -> Result<crate::datapath::DataPaths, Error> {
    let names: Vec<String> = compose.container_names().into_values().collect();
    let volumes =
        crate::datapath::EngineVolumes::discovering(docker, &deployment.dir, &compose.path, names);
    Ok(crate::datapath::resolve(&crate::datapath::Request {
        dir: &deployment.dir,
        compose,
        roles,
        include,
        volumes: &volumes,
    })?)
}

/// The host's size from the Docker engine, when one answers quickly; `None` otherwise
/// (the plan needs no engine).
pub(crate) fn engine_host() -> Option<crate::plan::HostFacts> {
    crate::docker::socket::quick_info(std::time::Duration::from_millis(500)).map(|info| {
        crate::plan::HostFacts {
            cpus: info.ncpu,
            memory: info.mem_total,
        }
    })
}

/// Takes the deployment lock for `command` (`backup`, `restore`, `backups prune`), as a run
/// does: refused, naming the holder, while another xzup holds it. Taken after the cheap
/// checks, so a command refused for its arguments leaves the state dir as it was.
fn take_lock(
    deployment: &Deployment,
    command: &str,
    printer: &Printer,
) -> Result<LockGuard, Error> {
    let guard = Lock::acquire(&deployment.state_dir(), command)?;
    if let Some(stale) = guard.stale() {
        printer.warn(stale.warning());
    }
    crate::upgrade::hooks::reached(
        crate::upgrade::hooks::Point::Locked,
        crate::interrupt::requested,
    );
    Ok(guard)
}
