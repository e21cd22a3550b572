//! `verify`: what the new file says, checked against the running containers — limits and
//! reservations, MySQL and Redis variables, `docker stats` over `--verify-window`.

use std::time::Duration;

use crate::journal;
use crate::roles::Role;
use crate::upgrade::context::Ctx;
use crate::upgrade::error::StepError;
use crate::upgrade::step::Step;
use crate::verify::{self, Expectation};

pub(super) struct Verify;

impl Step for Verify {
    fn id(&self) -> journal::Step {
        journal::Step::Verify
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        let (_, new) = ctx.new_file()?;
        let (_, previous) = ctx.previous_file()?;
        let mut versions = String::new();
        if !crate::images::changes(&previous, &new).is_empty() {
            // A version upgrade: the images the file names, and a web that has finished
            // its start-up migrations.
            let checked = super::images::check_running(ctx, &new)?;
            versions = format!("; images of {} as named", checked.join(", "));
            ctx.observer.waiting("waiting for the web to answer");
            let timeout = Duration::from_secs(ctx.run().settings.wait_timeout_secs);
            if let Some(note) = super::images::web_answers(ctx, timeout)? {
                versions.push_str(&format!("; {note}"));
            }
        }
        let observed = new.observe(&ctx.roles)?;
        // The roles in the deployment; one that is not (MySQL elsewhere) is not checked.
        let services = ctx
            .roles
            .iter()
            .map(|(role, service)| {
                let resources = observed.services.get(&role).cloned().unwrap_or_default();
                (role, (service.to_string(), resources))
            })
            .collect();
        let password = ctx
            .roles
            .service(Role::Db)
            .and_then(|db| new.environment(db).get("MYSQL_ROOT_PASSWORD").cloned());
        let expect = Expectation {
            services,
            mysql: observed.mysql.clone(),
            redis: observed.redis.clone(),
            mysql_root_password: password,
        };
        let settings = ctx.run().settings.clone();
        let project = ctx.run().project.clone().unwrap_or_default();
        ctx.observer.waiting(&format!(
            "checking limits and settings, sampling docker stats for {}s",
            settings.verify_window_secs
        ));
        let report = verify::verify(
            &ctx.docker,
            &project,
            &expect,
            Duration::from_secs(settings.verify_window_secs),
            settings.strict,
            &ctx.stop_requested,
        )?;
        for warning in &report.warnings {
            ctx.warn(warning)?;
        }
        if !report.failures.is_empty() {
            return Err(StepError::failed(report.failures.join("; ")));
        }
        let (cpu, mem) = report
            .peaks
            .values()
            .fold((0.0f64, 0.0f64), |(c, m), (pc, pm)| {
                (c.max(*pc), m.max(*pm))
            });
        if report.peaks.is_empty() {
            return Ok(format!(
                "{} match; load not measured (`docker stats` gave no reading){versions}",
                report.passed.join(", ")
            ));
        }
        Ok(format!(
            "{} match; peak CPU {:.0}% and memory {:.0}% of a limit{versions}",
            report.passed.join(", "),
            cpu * 100.0,
            mem * 100.0
        ))
    }
}
