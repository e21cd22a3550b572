//! What several steps ask of the stack: that it stopped, that it came up healthy.

use std::time::Duration;

use crate::docker::Compose;

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

/// Waits until every service of `compose` runs and is healthy, within the run's timeout.
pub(super) fn wait_healthy(ctx: &Ctx<'_>, compose: &Compose) -> Result<String, StepError> {
    let timeout = Duration::from_secs(ctx.run().settings.wait_timeout_secs);
    wait_healthy_for(compose, timeout)
}

/// [`wait_healthy`] with a timeout of the caller's.
pub(super) fn wait_healthy_for(compose: &Compose, timeout: Duration) -> Result<String, StepError> {
    let states = compose.wait_healthy::<&str>(&[], timeout)?;
    let healthy = states
        .iter()
        .filter(|s| s.health.as_deref() == Some("healthy"))
        .count();
    Ok(format!(
        "{} services running, {healthy} healthy",
        states.len()
    ))
}
