//! What several steps ask of the stack: that it stopped, that it came up healthy.

use std::time::Duration;

use crate::docker::Compose;
use crate::journal;

use crate::upgrade::context::Ctx;
use crate::upgrade::error::StepError;

/// Fails when a container of the project still runs: a MySQL datadir copied while mysqld
/// runs is not a backup.
pub(super) fn confirm_stopped(ctx: &Ctx<'_>) -> Result<String, StepError> {
    let project = ctx.run().project.clone().unwrap_or_default();
    let left = ctx.docker.project_containers(&project)?;
    let running: Vec<String> = left
        .iter()
        .filter(|c| matches!(c.status.as_str(), "running" | "restarting" | "paused"))
        .map(|c| c.name.clone())
        .collect();
    if !running.is_empty() {
        return Err(StepError::failed(format!(
            "still running after down: {} (stop them, then run `xzup resume`)",
            running.join(", ")
        )));
    }
    Ok(format!("project `{project}` stopped"))
}

/// Waits until every service of `compose` runs and is healthy, within the run's timeout,
/// and records in the journal (on `step`) how long into the step they first were: the
/// outage's end.
pub(super) fn wait_healthy(
    ctx: &mut Ctx<'_>,
    compose: &Compose,
    step: journal::Step,
) -> Result<String, StepError> {
    let timeout = Duration::from_secs(ctx.run().settings.wait_timeout_secs);
    wait_healthy_for(ctx, compose, step, timeout)
}

/// [`wait_healthy`] with a timeout of the caller's.
pub(super) fn wait_healthy_for(
    ctx: &mut Ctx<'_>,
    compose: &Compose,
    step: journal::Step,
    timeout: Duration,
) -> Result<String, StepError> {
    let wait = compose.wait_ready::<&str>(&[], timeout, &mut |_| {})?;
    let settling = wait.settled_after.saturating_sub(wait.ready_after);
    let ready_at = chrono::Utc::now() - chrono::Duration::from_std(settling).unwrap_or_default();
    if let Some(started) = ctx.run().step(step).map(|r| r.started_at) {
        let ready_ms = (ready_at - started).num_milliseconds().max(0) as u64;
        ctx.journal.set_ready(step, ready_ms)?;
    }
    let healthy = wait
        .states
        .iter()
        .filter(|s| s.health.as_deref() == Some("healthy"))
        .count();
    Ok(format!(
        "{} services running, {healthy} healthy (settled {:.1}s after ready)",
        wait.states.len(),
        settling.as_secs_f64()
    ))
}
