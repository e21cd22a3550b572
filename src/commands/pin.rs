//! `xzup pin`: the db and Redis images a pull may move (`latest` or no tag) are named with
//! what they run now, and the tag of that version is written into the active compose file
//! (only those `image:` values change; the file as it was is kept aside).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use serde::Serialize;

use crate::cli::PinArgs;
use crate::deployment::{Deployment, DeploymentOptions};
use crate::docker::Docker;
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::fsutil;
use crate::images::{self, Unpinned};
use crate::printer::Printer;

#[derive(Serialize)]
struct Report {
    file: String,
    unpinned: Vec<Unpinned>,
    /// Service → the reference written.
    written: BTreeMap<String, String>,
    kept_aside: Option<String>,
    dry_run: bool,
}

pub(crate) fn run(
    opts: &DeploymentOptions,
    printer: &Printer,
    args: &PinArgs,
) -> Result<ExitStatus> {
    let deployment = Deployment::open(opts)?;
    let compose = deployment.compose()?;
    let roles = deployment.roles(&compose)?;
    let docker = Docker::new().with_secrets(compose.secrets());
    let found = images::unpinned(&compose, &roles, |service, reference| {
        super::image_args::running_info(
            &docker,
            &deployment.dir,
            &compose,
            service,
            reference,
            true,
        )
    });
    let file = crate::plan::display_rel(&deployment.dir, &compose.path);
    let pins: BTreeMap<String, String> = found
        .iter()
        .filter_map(|u| Some((u.service.clone(), u.pinned.clone()?)))
        .collect();
    let mut report = Report {
        file: file.clone(),
        unpinned: found.clone(),
        written: BTreeMap::new(),
        kept_aside: None,
        dry_run: args.dry_run,
    };
    if found.is_empty() {
        printer.info(format_args!(
            "{file}: the db and Redis images are pinned already (a version tag or a digest)"
        ));
        if printer.is_json() {
            printer.json(&report);
        }
        return Ok(ExitStatus::Success);
    }
    for u in &found {
        printer.out(format_args!("  {}", u.describe()));
    }
    let unknown: Vec<&Unpinned> = found.iter().filter(|u| u.pinned.is_none()).collect();
    if args.dry_run || pins.is_empty() {
        if printer.is_json() {
            printer.json(&report);
        }
        if !unknown.is_empty() && pins.is_empty() {
            return Err(Error::Usage {
                message: format!(
                    "cannot tell the version of {}: nothing written",
                    unknown
                        .iter()
                        .map(|u| format!("`{}`", u.service))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                hint: Some(
                    "start the stack so that xzup sees the image each service runs, or write a version tag into the file by hand"
                        .into(),
                ),
            });
        }
        return Ok(ExitStatus::Changes);
    }
    let _lock = super::take_lock(&deployment, "pin", printer)?;
    let edited = compose.with_images(&pins)?;
    let path = compose.path.clone();
    let mode = std::fs::metadata(&path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o600);
    let moved = fsutil::quarantine(&path).map_err(|e| Error::io("move aside", &path, e))?;
    fsutil::write_atomic(&path, edited.text.as_bytes(), mode)
        .map_err(|e| Error::io("write", &path, e))?;
    for (service, reference) in &pins {
        printer.info(format_args!("{file}: `{service}` now names `{reference}`"));
    }
    if let Some(moved) = &moved {
        printer.info(format_args!(
            "the file as it was is kept as {}",
            moved.display()
        ));
    }
    for u in &unknown {
        printer.warn(format_args!(
            "`{}` was left as it is: its version cannot be told from the image",
            u.service
        ));
    }
    report.written = pins;
    report.kept_aside = moved.map(|m| m.display().to_string());
    if printer.is_json() {
        printer.json(&report);
    }
    Ok(ExitStatus::Success)
}
