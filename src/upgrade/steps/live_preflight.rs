//! `preflight` of a live run (`--strategy live`): what the restart path's preflight
//! checks that still matters with the stack running (engine, Compose and project, host
//! size, `config -q` of the new file), then what runs now against the new file, setting
//! by setting ([`live::assess`]): any setting that cannot change live (a memory limit
//! below what the container uses now, a variable the server cannot change at run time)
//! fails it, naming them, with nothing changed. The values found are recorded in the
//! journal (`live_before`): what a rollback sets back.

use std::collections::BTreeMap;

use crate::journal;
use crate::live;
use crate::upgrade::context::{Ctx, NEW_COPY};
use crate::upgrade::error::StepError;
use crate::upgrade::step::Step;

pub(super) struct LivePreflight;

impl Step for LivePreflight {
    fn id(&self) -> journal::Step {
        journal::Step::Preflight
    }

    fn changes_nothing(&self) -> bool {
        true
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        let force = ctx.run().settings.force;
        let info = ctx.docker.info()?;
        let (previous_path, previous) = ctx.previous_file()?;
        let (_, new) = ctx.new_file()?;
        let (cli, project) = super::preflight::compose_and_project(ctx, &previous_path, &previous)?;

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
        let candidate = ctx.run_dir().join(NEW_COPY);
        ctx.compose(&candidate)?.config_check()?;

        let facts = live::facts_of(&ctx.roles, &observed);
        let password = live::root_password(&ctx.roles, &new);
        let assessment = live::assess(&ctx.docker, &project, &facts, password.as_deref())?;
        if !assessment.is_live() {
            return Err(StepError::failed(format!(
                "cannot change live: {}; nothing was changed (`--strategy restart` takes the restart path)",
                assessment.why_not()
            )));
        }
        if ctx.run().live_before.is_empty() {
            ctx.journal.set_live_before(assessment.before.clone())?;
        }
        let images: BTreeMap<String, String> = ctx
            .docker
            .project_containers(&project)?
            .iter()
            .filter_map(|c| c.service.clone().map(|s| (s, c.image_id.clone())))
            .collect();
        if ctx.run().images_before.is_empty() && !images.is_empty() {
            ctx.journal.set_images_before(images)?;
        }
        Ok(format!(
            "engine {}, compose {}; project `{project}`; {} setting(s) change live on {} running container(s){}",
            info.server_version,
            cli.flavour.as_str(),
            assessment.changes.len(),
            assessment.before.len(),
            assessment
                .db
                .map_or(String::new(), |db| format!("; {}", db.describe()))
        ))
    }
}
