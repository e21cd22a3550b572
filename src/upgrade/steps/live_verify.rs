//! `verify` of a live run: the restart path's checks (limits, MySQL/Redis variables,
//! `docker stats` over `--verify-window`), every other value the run set (log size,
//! `save`), and that no container was restarted or recreated: the same ID and
//! `State.StartedAt` as preflight recorded.

use crate::journal;
use crate::live;
use crate::upgrade::context::Ctx;
use crate::upgrade::error::StepError;
use crate::upgrade::step::Step;

use super::verify::Verify;

pub(super) struct LiveVerify;

impl Step for LiveVerify {
    fn id(&self) -> journal::Step {
        journal::Step::Verify
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        let detail = Verify.run(ctx)?;
        let (_, new) = ctx.new_file()?;
        let observed = new.observe(&ctx.roles)?;
        let facts = live::facts_of(&ctx.roles, &observed);
        let password = live::root_password(&ctx.roles, &new);
        let project = ctx.run().project.clone().unwrap_or_default();
        let roles: Vec<_> = facts.iter().map(|f| (f.role, f.service.clone())).collect();
        let now = live::read(&ctx.docker, &project, &roles, password.as_deref())?;
        let mut problems = Vec::new();
        for fact in &facts {
            let running = now.get(&fact.role).cloned().unwrap_or_default();
            let Some(values) = &running.values else {
                problems.push(format!("`{}` has no running container", fact.service));
                continue;
            };
            if let Some(before) = ctx.run().live_before.get(&fact.service) {
                if before.container_id != values.container_id {
                    problems.push(format!("`{}` was recreated during the run", fact.service));
                } else if before.started_at != values.started_at {
                    problems.push(format!(
                        "`{}` was restarted during the run (started {}, was {})",
                        fact.service, values.started_at, before.started_at
                    ));
                }
            }
            for change in live::decide(fact.role, &fact.service, &fact.want, &running) {
                problems.push(format!("{} still differs", change.describe()));
            }
        }
        if !problems.is_empty() {
            return Err(StepError::failed(problems.join("; ")));
        }
        Ok(format!(
            "{detail}; no container restarted ({} with the same ID and start time)",
            ctx.run().live_before.len()
        ))
    }
}
