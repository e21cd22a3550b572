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
        let window = Duration::from_secs(settings.verify_window_secs);
        // The doctor's window runs beside verify's own sampling, over the same span: the
        // run's "after" (its "before" is the last window `doctor --record` kept).
        let request = crate::sizing::sample::Request {
            project: project.clone(),
            roles: ctx.roles.iter().map(|(r, s)| (r, s.to_string())).collect(),
            mysql_password: expect.mysql_root_password.clone(),
            window,
            interval: Duration::from_secs(2),
        };
        let stop = ctx.stop_requested;
        let (report, after) = std::thread::scope(|scope| {
            let docker = &ctx.docker;
            let doctor =
                scope.spawn(move || crate::sizing::sample::sample(docker, &request, &stop));
            let report = verify::verify(
                docker,
                &project,
                &expect,
                window,
                settings.strict,
                &ctx.stop_requested,
            );
            (report, doctor.join().ok())
        });
        let report = report?;
        record_sizing(ctx, after)?;
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

/// Records the before (the last recorded doctor window before the run began) and the after
/// (the window just sampled) in the journal. The doctor's own failure only leaves "after"
/// out: verify decides the run.
fn record_sizing(
    ctx: &mut Ctx<'_>,
    after: Option<Result<crate::sizing::sample::Window, crate::docker::DockerError>>,
) -> Result<(), StepError> {
    use crate::sizing::{change, findings, record};
    let started = u64::try_from(ctx.run().started_at.timestamp()).unwrap_or(0);
    let dir = record::usage_dir(&crate::state::state_dir(&ctx.dir));
    let before = record::read(&dir)
        .ok()
        .and_then(|lines| change::of_record(&lines, started));
    let after = match after {
        Some(Ok(window)) => {
            let host = findings::HostFacts {
                cpus: 0,
                memory: None,
                tier: None,
                tier_host_cpus: None,
                tier_host_memory: None,
                data_dirs: Vec::new(),
                gpu: None,
            };
            let a = findings::assess(&window, host, Vec::new());
            Some(change::of_assessment(window.started, &a))
        }
        Some(Err(e)) => {
            log::debug!("the doctor's window during verify: {e}");
            None
        }
        None => None,
    };
    ctx.journal
        .set_sizing(crate::journal::SizingChange { before, after })?;
    Ok(())
}
