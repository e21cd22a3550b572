//! Preflight: everything that can be checked before the stack goes down. A failure here
//! changes nothing. `--force` overrides the host-size checks only.

use std::collections::BTreeMap;

use crate::backup;
use crate::compose::{ComposeFile, Env, env};
use crate::datapath::{self, Reason};
use crate::db_flags::{self, Verdict};
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

/// The Compose CLI and the project the running stack belongs to (found once, then read
/// from the journal), so that every later step addresses the same containers.
pub(super) fn compose_and_project(
    ctx: &mut Ctx<'_>,
    previous_path: &std::path::Path,
    previous: &crate::compose::ComposeFile,
) -> Result<(ComposeCli, String), StepError> {
    let cli = match ctx.run().compose_flavour.clone() {
        Some(_) => ctx.compose(previous_path).map(|c| c.cli().clone())?,
        None => ComposeCli::detect(&ctx.docker)?,
    };
    if ctx.run().project.is_none() {
        let project = Project::discover(
            &ctx.docker,
            cli.flavour,
            &ctx.dir,
            previous_path,
            &previous.container_names().into_values().collect::<Vec<_>>(),
        )?;
        ctx.journal.set_project(&project.name)?;
    }
    if ctx.run().compose_flavour.is_none() {
        ctx.journal.set_compose_flavour(cli.flavour.as_str())?;
    }
    ctx.cli = Some(cli.clone());
    let project = ctx.run().project.clone().unwrap_or_default();
    Ok((cli, project))
}

fn run(ctx: &mut Ctx<'_>) -> Result<String, StepError> {
    let force = ctx.run().settings.force;
    let info = ctx.docker.info()?;
    let (previous_path, previous) = ctx.previous_file()?;
    let (_, new) = ctx.new_file()?;

    let (cli, project) = compose_and_project(ctx, &previous_path, &previous)?;

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

    // What the backup will take. A data service's mount that is missing means the file
    // does not describe this deployment; a volume that cannot be read would be missed.
    let settings = ctx.run().settings.backup.clone();
    let paths = ctx.data_paths(&previous, &settings.include)?;
    for left in &paths.left_out {
        if left.blocks_upgrade() {
            let why = match left.reason {
                Reason::Anonymous => "the upgrade would start the service without its data",
                _ => "the backup would miss data",
            };
            return Err(StepError::failed(format!("{why}: {left}")));
        }
        if left.is_warning() {
            ctx.warn(&format!("backup: {left}"))?;
        }
    }

    // Free disk for the backup.
    let data = paths.bytes();
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

    // A version upgrade: the new images pulled, the running ones kept — before any downtime.
    let versions = super::images::prepare(ctx, &previous, &new)?;

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

    // The db flags through the db image's own server, before anything stops: a flag it
    // rejects (`--query_cache_size` on MySQL 8) would otherwise fail `up` with the old
    // stack already down.
    let db_flags = check_db_flags(ctx, &new)?;

    Ok(format!(
        "engine {}, {} cores, {}; compose {}; project `{project}`; backup needs ~{} ({} free){pulled}{db_flags}{versions}",
        info.server_version,
        info.ncpu,
        human_bytes(info.mem_total),
        cli.flavour.as_str(),
        human_bytes(data),
        human_bytes(free),
    ))
}

/// Runs the new file's db flags through its db image (see [`crate::db_flags`]); a refusal
/// fails the step. Returns a note for the step's summary.
fn check_db_flags(ctx: &mut Ctx<'_>, new: &ComposeFile) -> Result<String, StepError> {
    let Some((_, service)) = datapath::services_by_role(new, &ctx.roles)
        .into_iter()
        .find(|(role, _)| *role == Role::Db)
    else {
        return Ok(String::new());
    };
    let Some(image) = new.images().remove(&service) else {
        ctx.warn(&format!(
            "the db flags were not checked: `{service}` has no `image:` to check them with"
        ))?;
        return Ok(String::new());
    };
    let words = new.command_words(&service)?.unwrap_or_default();
    let env = Env::load(&ctx.dir)?;
    let words = words
        .iter()
        .map(|w| env::interpolate(w, &env))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StepError::failed(format!("the `command:` of `{service}`: {e}")))?;
    let Some(flags) = db_flags::flags_of(&words) else {
        ctx.warn(&format!(
            "the db flags were not checked: the `command:` of `{service}` does not run mysqld"
        ))?;
        return Ok(String::new());
    };
    let redact = |text: &str| ctx.docker.redactor().redact(text);
    match db_flags::check(&ctx.docker, &image, &flags)? {
        Verdict::Accepted(server) => Ok(format!("; db flags accepted by {server}")),
        Verdict::Rejected {
            server,
            flag,
            reason,
        } => {
            let what = match &flag {
                Some(flag) => format!("`{}`", redact(flag)),
                None => "the flags".to_string(),
            };
            let removed = flag.as_deref().is_some_and(|f| {
                f.trim_start_matches('-')
                    .replace('-', "_")
                    .starts_with("query_cache")
            }) && !server.mariadb;
            Err(StepError::failed(format!(
                "{server} in `{image}` refuses {what} in the `command:` of `{service}`: {}{}; \
                 nothing was stopped: fix the flag in the compose file and run again",
                redact(&reason),
                if removed {
                    " (MySQL 8.0 removed the query cache)"
                } else {
                    ""
                }
            )))
        }
        Verdict::NotChecked(why) => {
            ctx.warn(&format!(
                "the db flags were not checked with `{image}`: {}",
                redact(&why)
            ))?;
            Ok(String::new())
        }
    }
}
