//! Preflight: everything that can be checked before the stack goes down. A failure here
//! changes nothing. `--force` overrides the host-size checks only.

use std::collections::BTreeMap;

use crate::backup;
use crate::docker::{ComposeCli, Project};
use crate::fsutil;
use crate::roles::Role;
use crate::units::human_bytes;

use crate::journal;
use crate::upgrade::context::{Ctx, NEW_COPY};
use crate::upgrade::error::StepError;
use crate::upgrade::step::Step;

pub(super) struct Preflight;

impl Step for Preflight {
    fn id(&self) -> journal::Step {
        journal::Step::Preflight
    }

    /// Preflight only looks: a failure here leaves the stack running as it was.
    fn changes_nothing(&self) -> bool {
        true
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        run(ctx)
    }
}

fn run(ctx: &mut Ctx<'_>) -> Result<String, StepError> {
    let force = ctx.run().settings.force;
    let info = ctx.docker.info()?;
    let (previous_path, previous) = ctx.previous_file()?;
    let (_, new) = ctx.new_file()?;

    // The Compose CLI and the project the running stack belongs to, so that `down` with
    // the old file and `up` with the new one address the same containers.
    let cli = match ctx.run().compose_flavour.clone() {
        Some(_) => ctx.compose(&previous_path).map(|c| c.cli().clone())?,
        None => ComposeCli::detect(&ctx.docker)?,
    };
    if ctx.run().project.is_none() {
        let project = Project::discover(
            &ctx.docker,
            cli.flavour,
            &ctx.dir,
            &previous_path,
            &previous.container_names().into_values().collect::<Vec<_>>(),
        )?;
        ctx.journal.set_project(&project.name)?;
    }
    if ctx.run().compose_flavour.is_none() {
        ctx.journal.set_compose_flavour(cli.flavour.as_str())?;
    }
    ctx.cli = Some(cli.clone());
    let project = ctx.run().project.clone().unwrap_or_default();

    // The images the containers run now: what a rollback returns to.
    let containers = ctx.docker.project_containers(&project)?;
    if ctx.run().images_before.is_empty() && !containers.is_empty() {
        let images: BTreeMap<String, String> = containers
            .iter()
            .filter_map(|c| c.service.clone().map(|s| (s, c.image_id.clone())))
            .collect();
        ctx.journal.set_images_before(images)?;
    }

    // Host size. The engine refuses a cpus limit above its CPU count only at container
    // create — after `down` — so this is checked now (NOTES: "Range of CPUs is from 0.01
    // to 2.00"). A memory limit above host RAM is accepted silently: a warning.
    let observed = new.observe(&ctx.roles)?;
    let checks = crate::plan::host_checks(
        crate::plan::HostFacts {
            cpus: info.ncpu,
            memory: info.mem_total,
        },
        &observed,
    );
    for check in checks.iter().filter(|c| !c.ok) {
        if check.blocking && !force {
            return Err(StepError::failed(format!(
                "{} (pass --force to try anyway)",
                check.message
            )));
        }
        ctx.warn(&check.message)?;
    }

    // The data paths exist: a db or web bind mount that is missing means the file does
    // not describe this deployment. (A role not in the deployment has none.)
    for role in [Role::Db, Role::Web] {
        let Some(service) = ctx.roles.service(role) else {
            continue;
        };
        for mount in previous.bind_mounts(service) {
            if std::fs::symlink_metadata(&mount.source).is_err() {
                return Err(StepError::failed(format!(
                    "the {role} data path `{}` does not exist",
                    mount.source.display()
                )));
            }
        }
    }

    // Free disk for the backup.
    let settings = ctx.run().settings.backup.clone();
    let paths = backup::default_paths(&previous, &ctx.roles, &ctx.dir, &settings.include);
    let data: u64 = paths.iter().map(|p| fsutil::disk_usage(&ctx.abs(p))).sum();
    let archive = ctx.archive_path();
    let backup_dir = fsutil::parent_dir(&archive).to_path_buf();
    let probe = backup_dir
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(&ctx.dir)
        .to_path_buf();
    let free = fsutil::available_space(&probe)?;
    backup::check_space(&backup_dir, data, free)?;

    // The new file as Compose reads it.
    let candidate = ctx.run_dir().join(NEW_COPY);
    let compose_new = ctx.compose(&candidate)?;
    compose_new.config_check()?;

    // Every image present, or pulled now — before any downtime.
    let images: Vec<String> = new.images().into_values().collect();
    let missing = ctx.docker.missing_images(&images)?;
    let mut pulled = String::new();
    if !missing.is_empty() {
        if !ctx.run().settings.pull {
            return Err(StepError::failed(format!(
                "image(s) not present locally: {} (pass --pull to pull them before the stack goes down)",
                missing.join(", ")
            )));
        }
        let services: Vec<String> = new
            .images()
            .into_iter()
            .filter(|(_, image)| missing.contains(image))
            .map(|(service, _)| service)
            .collect();
        ctx.observer
            .waiting(&format!("pulling {}", missing.join(", ")));
        compose_new.pull(&services)?;
        pulled = format!(", pulled {}", missing.join(", "));
    }

    Ok(format!(
        "engine {}, {} cores, {}; compose {}; project `{project}`; backup needs ~{} ({} free){pulled}",
        info.server_version,
        info.ncpu,
        human_bytes(info.mem_total),
        cli.flavour.as_str(),
        human_bytes(data),
        human_bytes(free),
    ))
}
