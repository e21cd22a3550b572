//! `xzup backup`: one verified archive of the deployment's data (see [`crate::backup`]).

use std::fs;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::backup::{self, BackupReport, BackupRequest};
use crate::deployment::{Deployment, DeploymentOptions};
use crate::docker::Docker;
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::fsutil;
use crate::printer::{Printer, Style};
use crate::units::human_bytes;

use super::display;
use super::run_output::BarProgress;

pub(crate) fn run(
    opts: &DeploymentOptions,
    printer: &Printer,
    args: &crate::cli::BackupArgs,
) -> Result<ExitStatus> {
    let deployment = Deployment::open(opts)?;
    let compose = deployment.compose()?;
    let roles = deployment.roles(&compose)?;
    let options = &args.options;
    let docker = Docker::new().with_secrets(compose.secrets());
    let paths = super::data_paths(&deployment, &compose, &roles, &options.include, &docker)?;
    for left in &paths.left_out {
        // What the operator named must be backed up; what the compose file names is noted.
        if left.is_included() {
            return Err(Error::Usage {
                message: left.to_string(),
                hint: Some("give `--include` a path inside the deployment dir that exists".into()),
            });
        }
        if left.blocks_backup() {
            return Err(Error::Other {
                message: format!("the backup would miss data: {left}"),
                hint: Some(
                    "run xzup where the Docker engine answers, as a user who may read the volume (root)"
                        .into(),
                ),
            });
        }
        // The rest (models, a Redis cache) is what `xzup plan` lists; not news here.
        if left.is_warning() {
            printer.warn(left);
        } else {
            printer.debug(left);
        }
    }
    if paths.paths.is_empty() {
        return Err(Error::Other {
            message: format!("nothing to back up in `{}`", deployment.dir.display()),
            hint: Some("name what to back up with `--include PATH`".into()),
        });
    }
    // Both checked before anything is created: never in a data path, never a chmod of a
    // directory xzup did not create.
    let backup_dir = super::backup_dir(&deployment, &paths, options.backup_dir.as_deref())?;
    let out = match &args.out {
        Some(out) => {
            let protected = crate::outpath::Protected::new(&paths, &deployment.state_dir());
            crate::outpath::check_archive("--out", out, &protected)?
        }
        None => backup_dir.join(backup::archive_name(&chrono::Utc::now())),
    };
    if out.starts_with(&backup_dir) {
        // xzup's own backup dir: owner-only. A dir `--out` merely points into is left alone.
        fsutil::ensure_private_dir(&backup_dir)
            .map_err(|e| Error::io("create the backup directory", &backup_dir, e))?;
    }
    let request = BackupRequest {
        paths: paths.paths,
        out,
        level: options.level,
        threads: 0,
        verify: !options.no_verify,
        compose_sha256: Some(hex::encode(Sha256::digest(compose.text.as_bytes()))),
        tool: backup::TOOL.to_string(),
        staged: None,
    };
    match backup::running_data_services(&deployment.dir, &compose, &roles) {
        // Not refused: the operator may know better (a db with nothing to write), and a
        // file that changes while it is read still fails the backup.
        Ok(running) if !running.is_empty() => printer.warn(format_args!(
            "{running}: a datadir copied while mysqld runs is not a consistent backup; \
             stop the stack first (`docker compose down`), or let `xzup apply` do it"
        )),
        Ok(_) => {}
        Err(e) => printer.debug(format_args!("could not check for running containers: {e}")),
    }
    crate::interrupt::install();
    // Refused before the lock is taken (`create` checks again, atomically).
    if fs::symlink_metadata(&request.out).is_ok() {
        return Err(backup::BackupError::OutputExists { path: request.out }.into());
    }
    // Not while a run changes the data (or a restore swaps it).
    let _lock = super::take_lock(&deployment, "backup", printer)?;
    let mut progress = BarProgress::new(printer);
    let report = backup::create(&request, &mut progress)?;
    progress.finish();
    print_report(printer, &deployment.dir, &report);
    Ok(ExitStatus::Success)
}

fn print_report(printer: &Printer, dir: &Path, report: &BackupReport) {
    for skipped in &report.skipped {
        printer.warn(format_args!(
            "skipped `{}`: {}",
            skipped.path,
            skipped.reason.describe()
        ));
    }
    for followed in &report.followed {
        printer.info(format_args!(
            "`{}` is a symlink: backed up what it points to, `{}` (what Docker mounts)",
            followed.root, followed.host
        ));
    }
    if !report.verified {
        printer
            .warn("not verified (--no-verify): the archive was not read back against its manifest");
    }
    if printer.is_json() {
        printer.json(report);
        return;
    }
    let verified = if report.verified {
        printer.paint("verified", Style::Good)
    } else {
        printer.paint("not verified", Style::Warn)
    };
    printer.out(format_args!(
        "Wrote {}: {} ({} files, {} of data, {}), {verified}.",
        printer.paint(&display(dir, &report.archive), Style::Bold),
        human_bytes(report.archive_bytes),
        report.files,
        human_bytes(report.data_bytes),
        ratio(report.data_bytes, report.archive_bytes),
    ));
    printer.out(format_args!("Paths: {}", report.roots.join(", ")));
}

/// `ratio 3.1` (data bytes per archive byte).
fn ratio(data: u64, archive: u64) -> String {
    format!("ratio {:.1}", data as f64 / archive.max(1) as f64)
}
