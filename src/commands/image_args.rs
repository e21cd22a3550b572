//! `--image ROLE=IMAGE` and `--version V` of `plan` and `apply`, resolved against the
//! compose file (service → reference to write), and what each service runs now (for the
//! plan's rows, its warnings and `pin`). Shared by `plan`, `apply` and `pin`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::cli::TargetArgs;
use crate::compose::ComposeFile;
use crate::docker::{Docker, ImageInfo};
use crate::error::{Error, Result};
use crate::images;
use crate::plan::RunningImage;
use crate::roles::{Role, RoleMap};

fn usage(message: String, hint: &str) -> Error {
    Error::Usage {
        message,
        hint: Some(hint.to_string()),
    }
}

const IMAGE_HINT: &str = "write `--image ROLE=TAG` (e.g. `--image web=web_0.9.1`), a full reference (`--image web=registry:5000/team/web:2`) or a digest (`--image web=sha256:…`); ROLE is server, web, db, redis or a service name";

/// Service → the reference to write, from `--version` and `--image` (the latter wins for
/// its service only when `--version` does not name it too: both for one service is refused).
pub(crate) fn requested(
    target: &TargetArgs,
    compose: &ComposeFile,
    roles: &RoleMap,
) -> Result<BTreeMap<String, String>> {
    let images = compose.images();
    let mut given: Vec<(String, String, String)> = Vec::new(); // (service, value, option)
    if let Some(version) = &target.version {
        if version.is_empty() {
            return Err(usage(
                "--version: no version given".into(),
                "e.g. `--version 0.9.1`",
            ));
        }
        for role in [Role::Server, Role::Web] {
            let Some(service) = roles.service(role) else {
                continue;
            };
            let tag = images::version_tag(role, version).unwrap_or_default();
            given.push((service.to_string(), tag, format!("--version {version}")));
        }
        if given.is_empty() {
            return Err(usage(
                "--version: this deployment has neither a server nor a web service".into(),
                "name the images with `--image SERVICE=IMAGE`",
            ));
        }
    }
    for spec in &target.image {
        let Some((who, value)) = spec.split_once('=') else {
            return Err(usage(
                format!("--image {spec}: expected ROLE=IMAGE"),
                IMAGE_HINT,
            ));
        };
        let service = match who.parse::<Role>() {
            Ok(role) => roles.service(role).map(str::to_string).ok_or_else(|| {
                usage(
                    format!("--image {spec}: the {role} role is not in this deployment"),
                    "map it with `--service ROLE=NAME`, or name the service itself",
                )
            })?,
            Err(_) if compose.services().iter().any(|s| s == who) => who.to_string(),
            Err(_) => {
                return Err(usage(
                    format!("--image {spec}: `{who}` is neither a role nor a service of the file"),
                    IMAGE_HINT,
                ));
            }
        };
        if let Some((_, _, other)) = given.iter().find(|(s, _, _)| *s == service) {
            return Err(usage(
                format!("--image {spec}: `{service}` is already given a new image by {other}"),
                "give each service one new image",
            ));
        }
        given.push((service, value.to_string(), format!("--image {spec}")));
    }
    let mut out = BTreeMap::new();
    for (service, value, option) in given {
        let Some(current) = images.get(&service) else {
            return Err(usage(
                format!(
                    "{option}: `{service}` has no `image:` in the file (it is built from source)"
                ),
                "give a new image only to services that name one",
            ));
        };
        let reference = images::resolve(current, &value)
            .map_err(|e| usage(format!("{option}: {e}"), IMAGE_HINT))?;
        out.insert(service, reference.to_string());
    }
    Ok(out)
}

/// The image `service` runs now: its container's (by the file's `container_name`, and
/// only a container Compose started from `dir`: a stack elsewhere with the same names is
/// not this deployment's); with `or_local`, else the local image of `reference` (what
/// `up` would run). `None` when neither is here or the engine does not answer.
pub(crate) fn running_info(
    docker: &Docker,
    dir: &Path,
    compose: &ComposeFile,
    service: &str,
    reference: &str,
    or_local: bool,
) -> Option<ImageInfo> {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let dir = canonical(dir);
    let from_container = compose
        .container_name(service)
        .and_then(|name| docker.inspect(&[name]).ok())
        .and_then(|mut c| (!c.is_empty()).then(|| c.remove(0)))
        .filter(|c| c.working_dir.as_deref().map(canonical).as_deref() == Some(dir.as_path()))
        .and_then(|c| docker.image_info(&c.image_id).ok().flatten());
    match from_container {
        Some(info) => Some(info),
        None if or_local => docker.image_info(reference).ok().flatten(),
        None => None,
    }
}

/// What each role's service runs now (ID, version label).
pub(crate) fn running(
    docker: &Docker,
    dir: &Path,
    compose: &ComposeFile,
    roles: &RoleMap,
) -> BTreeMap<String, RunningImage> {
    let images = compose.images();
    roles
        .iter()
        .filter_map(|(_, service)| {
            let info = running_info(docker, dir, compose, service, images.get(service)?, false)?;
            Some((
                service.to_string(),
                RunningImage {
                    id: info.id,
                    version: info.version,
                },
            ))
        })
        .collect()
}

/// The options as the journal records the command (`--tier T --image web=… --version V`).
pub(crate) fn describe(target: &TargetArgs) -> String {
    let mut parts = Vec::new();
    if let Some(tier) = &target.tier {
        parts.push(format!("--tier {tier}"));
    }
    if let Some(version) = &target.version {
        parts.push(format!("--version {version}"));
    }
    for image in &target.image {
        parts.push(format!("--image {image}"));
    }
    parts.join(" ")
}
