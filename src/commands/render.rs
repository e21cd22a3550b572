//! `xzup render --tier T [--only ROLES] [-o FILE]`: the tier's compose file, on stdout
//! (secrets masked) or written atomically to FILE. With `--format json`, stdout holds a
//! [`RenderReport`] instead: the masked file when printed, what was done when written.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::RenderArgs;
use crate::compose::ComposeFile;
use crate::deployment::{Deployment, DeploymentOptions};
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::fsutil;
use crate::outpath;
use crate::plan::target_file_name;
use crate::printer::Printer;
use crate::secrets::MASK;

pub(crate) fn run(
    opts: &DeploymentOptions,
    printer: &Printer,
    args: &RenderArgs,
) -> Result<ExitStatus> {
    let deployment = Deployment::open(opts)?;
    let catalog = deployment.catalog()?;
    let tier = catalog.get(&args.target.tier)?;
    let compose = deployment.compose()?;
    let roles = deployment.roles(&compose)?;
    let only = super::plan::only_roles(args.target.only.as_deref())?;
    let only = super::plan::choose(&only, &roles)?;
    let output = compose.render(&roles, &tier.target(&only))?;
    let rendered = output.file.text.clone();
    // `-o FILE` is checked before anything is written: a regular file (new, or not the
    // source), never in a data path, never a directory, device, FIFO or socket.
    let out = match &args.output {
        Some(arg) => {
            let docker = crate::docker::Docker::new().with_secrets(compose.secrets());
            let data = super::data_paths(&deployment, &compose, &roles, &[], &docker)?;
            let protected = outpath::Protected::new(&data, &deployment.state_dir());
            Some(outpath::check_file("-o", arg, &compose.path, &protected)?)
        }
        None => None,
    };
    let checked_path = out
        .as_ref()
        .map(|o| o.path.clone())
        .unwrap_or_else(|| deployment.dir.join(target_file_name(&tier.name)));
    let written = ComposeFile::parse(&checked_path, rendered.clone())?;
    for warning in written.warnings(&roles) {
        printer.warn(format_args!("{}: {}", warning.service, warning.message));
    }

    let Some(out) = out else {
        let shown = output.redacted();
        if printer.is_json() {
            printer.json(&RenderReport {
                tier: &tier.name,
                action: Action::Printed,
                file: None,
                kept_previous_as: None,
                compose: Some(shown),
            });
        } else {
            printer.out_raw(&shown);
        }
        if !output.secrets.is_empty() {
            printer.info(format_args!("note: secrets (passwords in `environment:`, commands and URLs) are shown as {MASK} on stdout; write the file with `-o FILE`"));
        }
        return Ok(ExitStatus::Success);
    };
    let path = out.path.clone();
    let report = |action, kept_previous_as| RenderReport {
        tier: &tier.name,
        action,
        file: Some(&path),
        kept_previous_as,
        compose: None,
    };
    let old = out
        .read_existing()
        .map_err(|e| Error::io("read", &path, e))?;
    if old.is_some_and(|old| old == rendered.as_bytes()) {
        printer.info(format_args!("{} is up to date", path.display()));
        if printer.is_json() {
            printer.json(&report(Action::UpToDate, None));
        }
        return Ok(ExitStatus::Success);
    }
    let moved = fsutil::quarantine(&path).map_err(|e| Error::io("move aside", &path, e))?;
    if let Some(moved) = &moved {
        printer.info(format_args!(
            "kept the previous file as {}",
            moved.display()
        ));
    }
    let mode = std::fs::metadata(&compose.path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o600);
    fsutil::write_atomic(&path, rendered.as_bytes(), mode)
        .map_err(|e| Error::io("write", &path, e))?;
    printer.info(format_args!(
        "wrote {} for tier `{}`",
        path.display(),
        tier.name
    ));
    if printer.is_json() {
        printer.json(&report(Action::Written, moved));
    }
    Ok(ExitStatus::Success)
}

/// `render --format json`: what was rendered and where it went.
#[derive(Debug, Serialize)]
struct RenderReport<'a> {
    tier: &'a str,
    action: Action,
    /// The file written (or already up to date); `None` when printed.
    file: Option<&'a Path>,
    /// Where the different file that stood at `file` was moved aside.
    kept_previous_as: Option<PathBuf>,
    /// The rendered file, secrets masked; only when printed (`-o FILE` writes them).
    compose: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Action {
    Printed,
    Written,
    UpToDate,
}
