//! `rollback-live`: the values a live run found (`live_before` in its journal) set back
//! on the running containers — limits, MySQL variables, Redis parameters; only what
//! differs now, so a redo is harmless. The rollback of a live run is live too.

use crate::journal;
use crate::live;
use crate::roles::Role;
use crate::upgrade::context::Ctx;
use crate::upgrade::error::StepError;
use crate::upgrade::step::Step;

pub(super) struct RollbackLive;

impl Step for RollbackLive {
    fn id(&self) -> journal::Step {
        journal::Step::RollbackLive
    }

    fn state_if_failed(&self) -> &'static str {
        "the stack runs; some of its values may still be the new tier's (`xzup status` shows them)"
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        let before = ctx.run().live_before.clone();
        if before.is_empty() {
            return Ok("nothing was set live".into());
        }
        let (_, previous) = ctx.previous_file()?;
        let password = live::root_password(&ctx.roles, &previous).unwrap_or_default();
        let project = ctx.run().project.clone().unwrap_or_default();
        let roles: Vec<(Role, String)> = ctx
            .roles
            .iter()
            .filter(|(_, service)| before.contains_key(*service))
            .map(|(role, service)| (role, service.to_string()))
            .collect();
        let now = live::read(&ctx.docker, &project, &roles, Some(&password))?;
        let mut done = Vec::new();
        for (role, service) in &roles {
            let running = now.get(role).cloned().unwrap_or_default();
            let Some(values) = running.values else {
                return Err(StepError::failed(format!(
                    "`{service}` has no running container to set back"
                )));
            };
            let old = &before[service];
            ctx.observer.waiting(&format!("setting {service} back"));
            let set = live::restore(&ctx.docker, &values, old, running.db, &password)?;
            if !set.is_empty() {
                done.push(format!("{service} ({})", set.join(", ")));
            }
        }
        if done.is_empty() {
            return Ok("the containers run with the old values".into());
        }
        Ok(format!("set back live: {}", done.join("; ")))
    }
}
