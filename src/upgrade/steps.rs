//! The apply steps after preflight: down, backup, write compose, up, verify, commit.
//! Each is idempotent, so `resume` can redo one that started and did not finish.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use crate::backup::{self, BackupRequest, Phase, ProgressSink};
use crate::compose::ComposeFile;
use crate::docker::{Compose, DownOptions};
use crate::fsutil;
use crate::interrupt;
use crate::journal::{BackupRef, Step};
use crate::roles::Role;
use crate::state::State;
use crate::units::human_bytes;
use crate::verify::{self, Expectation};

use super::Observer;
use super::preflight;
use super::run::{Ctx, NEW_COPY, PREVIOUS_COPY, StepFailure};

/// Runs one apply step; returns the detail for its line.
pub(super) fn run(ctx: &mut Ctx<'_>, step: Step) -> Result<String, StepFailure> {
    match step {
        Step::Preflight => preflight::run(ctx),
        Step::Down => down(ctx),
        Step::Backup => backup_step(ctx),
        Step::WriteCompose => write_compose(ctx),
        Step::Up => up(ctx),
        Step::Verify => verify_step(ctx),
        Step::Commit => commit(ctx),
        other => Err(StepFailure(format!("`{other}` is not an apply step"))),
    }
}

/// The compose file before the run (absolute) and its text as the run recorded it.
pub(super) fn previous_file(ctx: &Ctx<'_>) -> Result<(PathBuf, ComposeFile), StepFailure> {
    recorded_file(
        ctx,
        ctx.run().previous_compose.as_ref(),
        PREVIOUS_COPY,
        "previous",
    )
}

/// The compose file the run makes active (absolute) and its text.
pub(super) fn new_file(ctx: &Ctx<'_>) -> Result<(PathBuf, ComposeFile), StepFailure> {
    recorded_file(ctx, ctx.run().new_compose.as_ref(), NEW_COPY, "new")
}

/// A compose file the journal names, read from the copy in the run's dir.
fn recorded_file(
    ctx: &Ctx<'_>,
    file: Option<&crate::journal::ComposeFileRef>,
    copy: &str,
    which: &str,
) -> Result<(PathBuf, ComposeFile), StepFailure> {
    let file =
        file.ok_or_else(|| StepFailure(format!("the journal names no {which} compose file")))?;
    let path = ctx.abs(&file.path);
    let text = std::fs::read_to_string(ctx.run_dir().join(copy))?;
    Ok((path.clone(), ComposeFile::parse(&path, text)?))
}

/// Stops the stack with the file it was started with, then checks that no container of
/// the project still runs: a MySQL datadir copied while mysqld runs is not a backup.
fn down(ctx: &mut Ctx<'_>) -> Result<String, StepFailure> {
    let (path, _) = previous_file(ctx)?;
    let compose = ctx.compose(&path)?;
    ctx.observer.waiting("stopping the stack");
    compose.down(&DownOptions::default())?;
    confirm_stopped(ctx)
}

/// Fails when a container of the project still runs.
pub(super) fn confirm_stopped(ctx: &mut Ctx<'_>) -> Result<String, StepFailure> {
    let project = ctx.run().project.clone().unwrap_or_default();
    let left = ctx.docker.project_containers(&project)?;
    let running: Vec<String> = left
        .iter()
        .filter(|c| matches!(c.status.as_str(), "running" | "restarting" | "paused"))
        .map(|c| c.name.clone())
        .collect();
    if !running.is_empty() {
        return Err(StepFailure(format!(
            "still running after down: {} (stop them, then run `xzup resume`)",
            running.join(", ")
        )));
    }
    Ok(format!("project `{project}` stopped"))
}

/// The archive this run writes: `BACKUP_DIR/backup-<run start>.tar.gz`, fixed by the
/// journal so a redo after a crash writes the same name.
pub(super) fn archive_path(ctx: &Ctx<'_>) -> PathBuf {
    let run = ctx.run();
    ctx.abs(&run.settings.backup.dir)
        .join(backup::archive_name(&run.started_at))
}

fn backup_step(ctx: &mut Ctx<'_>) -> Result<String, StepFailure> {
    let out = archive_path(ctx);
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    if partial.exists() {
        // Our own half-written archive from an interrupted attempt: not data.
        std::fs::remove_file(&partial)?;
        ctx.observer
            .warning(&format!("discarded the half-written {}", partial.display()));
    }
    if out.exists() {
        match backup::verify(&out) {
            Ok(_) => {
                let size = std::fs::metadata(&out)?.len();
                record_backup(ctx, &out, size, true)?;
                return Ok(format!(
                    "{} ({}, verified; written before the interruption)",
                    rel(ctx, &out),
                    human_bytes(size)
                ));
            }
            Err(_) => {
                let moved = fsutil::quarantine(&out)?;
                if let Some(moved) = moved {
                    ctx.observer.warning(&format!(
                        "an unverifiable archive was kept aside as {}",
                        moved.display()
                    ));
                }
            }
        }
    }
    // The backup dir is owner-only (0700), as `xzup backup` makes it.
    fsutil::ensure_private_dir(fsutil::parent_dir(&out))?;
    let (_, previous) = previous_file(ctx)?;
    let settings = ctx.run().settings.backup.clone();
    let selection = backup::default_paths(&previous, &ctx.roles, &ctx.dir, &settings.include);
    let request = BackupRequest {
        root: ctx.dir.clone(),
        paths: selection,
        out: out.clone(),
        level: settings.level,
        threads: 0,
        verify: settings.verify,
        compose_sha256: ctx
            .run()
            .previous_compose
            .as_ref()
            .map(|f| f.sha256.clone()),
        tool: backup::TOOL.to_string(),
    };
    let report = backup::create(&request, &mut ObserverProgress(&mut *ctx.observer))?;
    record_backup(ctx, &out, report.archive_bytes, report.verified)?;
    if !report.verified {
        ctx.warn("the backup was not read back against its manifest (--no-verify)")
            .map_err(|e| StepFailure(e.to_string()))?;
    }
    Ok(format!(
        "{} ({} of data -> {}{})",
        rel(ctx, &out),
        human_bytes(report.data_bytes),
        human_bytes(report.archive_bytes),
        if report.verified {
            ", verified"
        } else {
            ", NOT verified"
        }
    ))
}

fn record_backup(
    ctx: &mut Ctx<'_>,
    out: &std::path::Path,
    size: u64,
    verified: bool,
) -> Result<(), StepFailure> {
    ctx.journal.set_backup(BackupRef {
        path: crate::journal::relative_to(&ctx.dir, out),
        size,
        sha256: None,
        verified,
    })?;
    Ok(())
}

/// Hands the backup's progress to the observer.
pub(super) struct ObserverProgress<'a>(pub &'a mut dyn Observer);

impl ProgressSink for ObserverProgress<'_> {
    fn phase(&mut self, phase: Phase, total_bytes: u64) {
        self.0.progress_phase(phase.label(), total_bytes);
    }
    fn advance(&mut self, bytes: u64) {
        self.0.progress(bytes);
    }
}

/// Writes `docker-compose-<tier>.yml` atomically; a different file already there is kept
/// aside first. The source file is never touched.
fn write_compose(ctx: &mut Ctx<'_>) -> Result<String, StepFailure> {
    let (path, new) = new_file(ctx)?;
    let (previous_path, _) = previous_file(ctx)?;
    if std::fs::read(&path).is_ok_and(|old| old == new.text.as_bytes()) {
        return Ok(format!("{} (already written)", rel(ctx, &path)));
    }
    if let Some(moved) = fsutil::quarantine(&path)? {
        ctx.warn(&format!(
            "{} was different; kept aside as {}",
            rel(ctx, &path),
            moved.display()
        ))
        .map_err(|e| StepFailure(e.to_string()))?;
    }
    let mode = std::fs::metadata(&previous_path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o600);
    fsutil::write_atomic(&path, new.text.as_bytes(), mode)?;
    Ok(rel(ctx, &path))
}

/// `up -d` with the new file, then waits until every service runs and is healthy.
fn up(ctx: &mut Ctx<'_>) -> Result<String, StepFailure> {
    let (path, _) = new_file(ctx)?;
    let compose = ctx.compose(&path)?;
    ctx.observer
        .waiting("starting the stack and waiting for it to be healthy");
    compose.up()?;
    wait_healthy(ctx, &compose)
}

/// Waits until every service of `compose` runs and is healthy, within the run's timeout.
pub(super) fn wait_healthy(ctx: &Ctx<'_>, compose: &Compose) -> Result<String, StepFailure> {
    let timeout = Duration::from_secs(ctx.run().settings.wait_timeout_secs);
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

/// What the new file says, checked against the running containers.
fn verify_step(ctx: &mut Ctx<'_>) -> Result<String, StepFailure> {
    let (_, new) = new_file(ctx)?;
    let observed = new.observe(&ctx.roles)?;
    let services = Role::ALL
        .iter()
        .map(|role| {
            let service = ctx.roles.service(*role).to_string();
            let resources = observed.services.get(role).cloned().unwrap_or_default();
            (*role, (service, resources))
        })
        .collect();
    let password = new
        .environment(ctx.roles.service(Role::Db))
        .get("MYSQL_ROOT_PASSWORD")
        .cloned();
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
        &interrupt::requested,
    )?;
    for warning in &report.warnings {
        ctx.warn(warning).map_err(|e| StepFailure(e.to_string()))?;
    }
    if !report.failures.is_empty() {
        return Err(StepFailure(report.failures.join("; ")));
    }
    let (cpu, mem) = report
        .peaks
        .values()
        .fold((0.0f64, 0.0f64), |(c, m), (pc, pm)| {
            (c.max(*pc), m.max(*pm))
        });
    Ok(format!(
        "{} match; peak CPU {:.0}% and memory {:.0}% of a limit",
        report.passed.join(", "),
        cpu * 100.0,
        mem * 100.0
    ))
}

/// The new file becomes the deployment's active compose file.
fn commit(ctx: &mut Ctx<'_>) -> Result<String, StepFailure> {
    let new = ctx
        .run()
        .new_compose
        .clone()
        .ok_or_else(|| StepFailure("the journal names no new compose file".into()))?;
    let mut state = State::load(&ctx.dir)?;
    state.active_compose = Some(new.path.clone());
    state.tier = Some(ctx.run().tier_to.clone());
    state.last_run = Some(ctx.run().id.clone());
    state.save(&ctx.dir)?;
    Ok(format!("{} is active", new.path.display()))
}

pub(super) fn rel(ctx: &Ctx<'_>, path: &std::path::Path) -> String {
    crate::plan::display_rel(&ctx.dir, path)
}
