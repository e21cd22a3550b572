//! `live-update`: the new limits and settings set on the running containers, role by
//! role (`docker update`, `SET GLOBAL`/`SET PERSIST`, `CONFIG SET`; limits first when a
//! memory limit grows, last when it shrinks). What runs is read again first, so a redo
//! after a crash sets only what is still missing. Nothing is restarted.

use crate::journal;
use crate::live;
use crate::upgrade::context::Ctx;
use crate::upgrade::error::StepError;
use crate::upgrade::hooks::{self, Point};
use crate::upgrade::step::Step;

pub(super) struct LiveUpdate;

impl Step for LiveUpdate {
    fn id(&self) -> journal::Step {
        journal::Step::LiveUpdate
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        let (_, new) = ctx.new_file()?;
        let observed = new.observe(&ctx.roles)?;
        let facts = live::facts_of(&ctx.roles, &observed);
        let password = live::root_password(&ctx.roles, &new).unwrap_or_default();
        let project = ctx.run().project.clone().unwrap_or_default();
        let roles: Vec<_> = facts.iter().map(|f| (f.role, f.service.clone())).collect();
        let now = live::read(&ctx.docker, &project, &roles, Some(&password))?;
        let mut done = Vec::new();
        for fact in &facts {
            let running = now.get(&fact.role).cloned().unwrap_or_default();
            let Some(values) = running.values else {
                return Err(StepError::failed(format!(
                    "`{}` has no running container to change",
                    fact.service
                )));
            };
            if let Some(before) = ctx.run().live_before.get(&fact.service)
                && before.container_id != values.container_id
            {
                return Err(StepError::failed(format!(
                    "the container of `{}` is not the one preflight found (it was recreated)",
                    fact.service
                )));
            }
            let mut parts_done = Vec::new();
            for part in live::parts(fact.role, &values, &fact.want, running.db) {
                ctx.observer
                    .waiting(&format!("setting {} live", fact.service));
                let what =
                    live::set_target(&ctx.docker, &values.container, &part, running.db, &password)?;
                parts_done.push(what);
                if done.is_empty() && parts_done.len() == 1 {
                    let point = Point::Middle(journal::Step::LiveUpdate);
                    hooks::reached(point, ctx.stop_requested);
                    if hooks::fails_at(point) {
                        return Err(StepError::failed(
                            "failed as the test asked (XZUP_TEST_FAIL_AT)",
                        ));
                    }
                }
            }
            if !parts_done.is_empty() {
                done.push(format!("{} ({})", fact.service, parts_done.join(", ")));
            }
        }
        if done.is_empty() {
            return Ok("nothing to set: the containers run with the new values".into());
        }
        Ok(format!("set live: {}; nothing restarted", done.join("; ")))
    }
}
