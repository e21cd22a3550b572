//! The rollback steps: down what runs now, restore data when asked, make the old compose
//! file active again, up, and check it is healthy. The same steps serve the automatic
//! rollback of a failed apply and `xzup rollback` of a finished one.

use std::path::PathBuf;

use crate::backup;
use crate::deployment::Deployment;
use crate::docker::DownOptions;
use crate::fsutil;
use crate::journal::{
    self, Journal, Outcome, RestoreData, RunKind, RunMeta, RunSettings, Step, sha256_hex,
};
use crate::roles::Role;
use crate::state::State;

use super::run::{Ctx, NEW_COPY, PREVIOUS_COPY, StepFailure, Summary, context_for};
use super::steps::{confirm_stopped, rel, wait_healthy};
use super::{Observer, UpgradeError};

/// The files a rollback moves between.
struct Targets {
    /// The compose file of the stack that runs now (or was being started).
    current: PathBuf,
    /// The file to return to, the copy of its bytes the run kept, and their sha256.
    back_to: PathBuf,
    back_to_copy: PathBuf,
    back_to_sha256: String,
    /// The tier `back_to` was for.
    back_to_tier: String,
}

fn targets(ctx: &Ctx<'_>) -> Result<Targets, StepFailure> {
    let run = ctx.run();
    let missing = || StepFailure("the journal does not name both compose files".into());
    let previous = run.previous_compose.clone().ok_or_else(missing)?;
    let new = run.new_compose.clone().ok_or_else(missing)?;
    Ok(match run.kind {
        RunKind::Apply => {
            let wrote_new = run.step_status(Step::WriteCompose).is_some();
            Targets {
                current: ctx.abs(if wrote_new { &new.path } else { &previous.path }),
                back_to: ctx.abs(&previous.path),
                back_to_copy: ctx.run_dir().join(PREVIOUS_COPY),
                back_to_sha256: previous.sha256,
                back_to_tier: run.tier_from.clone(),
            }
        }
        RunKind::Rollback => {
            let original = run
                .rolls_back
                .clone()
                .ok_or_else(|| StepFailure("the journal names no run to undo".into()))?;
            Targets {
                current: ctx.abs(&previous.path),
                back_to: ctx.abs(&new.path),
                back_to_copy: journal::runs_dir(&ctx.dir.join(crate::state::STATE_DIR))
                    .join(original)
                    .join(PREVIOUS_COPY),
                back_to_sha256: new.sha256,
                back_to_tier: run.tier_to.clone(),
            }
        }
    })
}

/// Runs the remaining rollback steps and sets the outcome.
pub(super) fn drive(ctx: &mut Ctx<'_>) -> Result<(), UpgradeError> {
    while let Some(step) = ctx.journal.next_step() {
        if let Err(failure) = ctx.step(step, |c| run_step(c, step))? {
            ctx.journal.set_outcome(Outcome::RollbackFailed)?;
            let state = describe_state(ctx, step);
            let run = ctx.run();
            return Err(match run.kind {
                RunKind::Apply => {
                    let (failed, cause) = original_failure(ctx);
                    UpgradeError::RollbackFailed(Box::new(super::FailedRollback {
                        run: run.id.clone(),
                        step: failed,
                        cause,
                        rollback_step: step.name().to_string(),
                        rollback_cause: failure.0,
                        state,
                    }))
                }
                RunKind::Rollback => UpgradeError::ManualRollbackFailed {
                    run: run.id.clone(),
                    step: step.name().to_string(),
                    cause: failure.0,
                    state,
                },
            });
        }
    }
    match ctx.run().kind {
        RunKind::Apply => {
            ctx.journal.set_outcome(Outcome::RolledBack)?;
            let (step, cause) = original_failure(ctx);
            let file = targets(ctx).map(|t| t.back_to).unwrap_or_default();
            Err(UpgradeError::RolledBack {
                run: ctx.run().id.clone(),
                step,
                cause,
                file: PathBuf::from(rel(ctx, &file)),
            })
        }
        RunKind::Rollback => {
            ctx.journal.set_outcome(Outcome::Succeeded)?;
            if let Some(original) = ctx.run().rolls_back.clone() {
                let state_dir = ctx.dir.join(crate::state::STATE_DIR);
                let mut journal = journal::find(&state_dir, &original)?;
                journal.set_undone_by(&ctx.run().id.clone())?;
            }
            Ok(())
        }
    }
}

/// The apply step that failed and why (from the journal).
fn original_failure(ctx: &Ctx<'_>) -> (String, String) {
    let run = ctx.run();
    match run
        .steps
        .iter()
        .find(|r| !r.step.is_rollback() && r.error.is_some())
    {
        Some(record) => (
            record.step.name().to_string(),
            record.error.clone().unwrap_or_default(),
        ),
        None => (
            run.steps
                .iter()
                .rev()
                .find(|r| !r.step.is_rollback())
                .map_or("preflight".to_string(), |r| r.step.name().to_string()),
            run.rollback_reason.clone().unwrap_or_default(),
        ),
    }
}

/// What state things are in after a failed rollback step, and what to run.
fn describe_state(ctx: &Ctx<'_>, step: Step) -> String {
    let back_to = targets(ctx)
        .map(|t| rel(ctx, &t.back_to))
        .unwrap_or_else(|_| "the previous compose file".into());
    let backup = ctx
        .run()
        .backup
        .as_ref()
        .map(|b| format!("the backup {} is kept", b.path.display()))
        .unwrap_or_else(|| "no backup was taken".into());
    let stack = match step {
        Step::RollbackDown => "the new stack may still run",
        Step::RollbackRestoreData => {
            "the stack is down and the data was not restored (what stood there is unchanged or kept aside as *.xzup-quarantine-*)"
        }
        Step::RollbackActivate | Step::RollbackUp => "the stack is down",
        _ => "the old stack was started but is not healthy",
    };
    format!("state: {stack}; {backup}; the file to return to is {back_to}")
}

fn run_step(ctx: &mut Ctx<'_>, step: Step) -> Result<String, StepFailure> {
    match step {
        Step::RollbackDown => rollback_down(ctx),
        Step::RollbackRestoreData => restore_data(ctx),
        Step::RollbackActivate => activate(ctx),
        Step::RollbackUp => rollback_up(ctx),
        Step::RollbackCheck => check(ctx),
        other => Err(StepFailure(format!("`{other}` is not a rollback step"))),
    }
}

fn rollback_down(ctx: &mut Ctx<'_>) -> Result<String, StepFailure> {
    if !stack_was_stopped(ctx) {
        return Ok("not needed: the run stopped before the stack went down".into());
    }
    let t = targets(ctx)?;
    // Down with the file the stack was started with; the run's own copies stand in when
    // it is gone (Compose needs only the service names to find the containers).
    let file = [
        t.current.clone(),
        ctx.run_dir().join(NEW_COPY),
        t.back_to_copy.clone(),
    ]
    .into_iter()
    .find(|p| p.exists())
    .unwrap_or(t.current);
    let compose = ctx.compose(&file)?;
    ctx.observer.waiting("stopping the stack");
    compose.down(&DownOptions::default())?;
    confirm_stopped(ctx)
}

/// Data-bearing services (db, web: the web container migrates the schema forward) whose
/// image the current file resolves to differs from the one they ran before the upgrade.
fn data_images_changed(ctx: &Ctx<'_>) -> Result<Vec<String>, StepFailure> {
    let t = targets(ctx)?;
    let file = [t.current.clone(), ctx.run_dir().join(NEW_COPY)]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or(t.current);
    let compose = crate::compose::ComposeFile::load(&file)?;
    let images = compose.images();
    let mut changed = Vec::new();
    for role in [Role::Db, Role::Web] {
        let service = ctx.roles.service(role);
        let (Some(before), Some(image)) =
            (ctx.run().images_before.get(service), images.get(service))
        else {
            continue;
        };
        match ctx.docker.image_id(image)? {
            Some(now) if &now != before => changed.push(service.to_string()),
            _ => {}
        }
    }
    Ok(changed)
}

fn restore_data(ctx: &mut Ctx<'_>) -> Result<String, StepFailure> {
    let mode = ctx.run().settings.restore_data;
    let new_stack_started =
        ctx.run().kind == RunKind::Rollback || ctx.run().step_status(Step::Up).is_some();
    if !new_stack_started && mode != RestoreData::Always {
        return Ok("not needed: the new stack never started, the data is untouched".into());
    }
    let changed = data_images_changed(ctx)?;
    let restore = match mode {
        RestoreData::Always => true,
        RestoreData::Never => false,
        RestoreData::Auto => !changed.is_empty(),
    };
    if !restore {
        if !changed.is_empty() {
            ctx.warn(&format!(
                "the image of {} changed since the backup; the data was NOT restored (--restore-data never): if the new version migrated it, restore with `xzup restore {}`",
                changed.join(", "),
                ctx.run().backup.as_ref().map_or("BACKUP".into(), |b| b.path.display().to_string())
            ))
            .map_err(|e| StepFailure(e.to_string()))?;
        }
        return Ok(match mode {
            RestoreData::Never => "skipped (--restore-data never)".into(),
            _ => "not needed: no data-bearing image changed".into(),
        });
    }
    let backup = ctx
        .run()
        .backup
        .clone()
        .ok_or_else(|| StepFailure("this run has no backup to restore from".into()))?;
    let archive = ctx.abs(&backup.path);
    ctx.observer
        .waiting(&format!("restoring {}", rel(ctx, &archive)));
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
    let report = backup::restore(
        &archive,
        &ctx.dir,
        &stamp,
        &mut super::steps::ObserverProgress(&mut *ctx.observer),
    )?;
    Ok(format!(
        "restored {} from {}; what stood there was kept aside ({} path(s))",
        report.restored.join(", "),
        rel(ctx, &archive),
        report.quarantined.len()
    ))
}

/// Makes the old compose file active: its bytes as the run recorded them (whatever else
/// stands at that path is kept aside), and xzup's state names it.
fn activate(ctx: &mut Ctx<'_>) -> Result<String, StepFailure> {
    let t = targets(ctx)?;
    let on_disk = std::fs::read(&t.back_to).ok();
    if on_disk.as_deref().map(sha256_hex).as_deref() != Some(t.back_to_sha256.as_str()) {
        let bytes = std::fs::read(&t.back_to_copy)?;
        if sha256_hex(&bytes) != t.back_to_sha256 {
            return Err(StepFailure(format!(
                "the kept copy {} does not match the journal's checksum",
                t.back_to_copy.display()
            )));
        }
        if let Some(moved) = fsutil::quarantine(&t.back_to)? {
            ctx.warn(&format!(
                "{} had changed; kept aside as {}",
                rel(ctx, &t.back_to),
                moved.display()
            ))
            .map_err(|e| StepFailure(e.to_string()))?;
        }
        fsutil::write_atomic(&t.back_to, &bytes, 0o644)?;
    }
    let mut state = State::load(&ctx.dir)?;
    state.active_compose = Some(crate::journal::relative_to(&ctx.dir, &t.back_to));
    state.tier = Some(t.back_to_tier.clone());
    state.last_run = Some(ctx.run().id.clone());
    state.save(&ctx.dir)?;
    Ok(format!("{} is active", rel(ctx, &t.back_to)))
}

/// Whether this run ever stopped the stack (an apply stopped before `down` did not).
fn stack_was_stopped(ctx: &Ctx<'_>) -> bool {
    ctx.run().kind == RunKind::Rollback || ctx.run().step_status(Step::Down).is_some()
}

fn rollback_up(ctx: &mut Ctx<'_>) -> Result<String, StepFailure> {
    if !stack_was_stopped(ctx) {
        return Ok("not needed: the stack was never stopped".into());
    }
    let t = targets(ctx)?;
    let compose = ctx.compose(&t.back_to)?;
    ctx.observer.waiting("starting the old stack");
    compose.up()?;
    Ok(format!("started with {}", rel(ctx, &t.back_to)))
}

fn check(ctx: &mut Ctx<'_>) -> Result<String, StepFailure> {
    let t = targets(ctx)?;
    let compose = ctx.compose(&t.back_to)?;
    ctx.observer
        .waiting("waiting for the old stack to be healthy");
    wait_healthy(ctx, &compose)
}

/// `xzup rollback` of a finished, successful apply: a run of its own.
pub(super) fn start_manual(
    deployment: &Deployment,
    original: Journal,
    settings: RunSettings,
    observer: &mut dyn Observer,
) -> Result<Summary, UpgradeError> {
    let o = original.run().clone();
    if o.kind != RunKind::Apply || o.outcome != Outcome::Succeeded {
        return Err(UpgradeError::NothingToRollBack(format!(
            "run `{}` is a {} that ended {}: only a successful apply can be rolled back",
            o.id,
            o.kind.name(),
            o.outcome.name()
        )));
    }
    if let Some(by) = &o.undone_by {
        return Err(UpgradeError::NothingToRollBack(format!(
            "run `{}` was already rolled back by `{by}`",
            o.id
        )));
    }
    let active = State::load(&deployment.dir)
        .ok()
        .and_then(|s| s.active_compose);
    let new_path = o.new_compose.as_ref().map(|f| f.path.clone());
    if active != new_path {
        return Err(UpgradeError::NothingToRollBack(format!(
            "run `{}` is not the deployment's current state (the active file is {}); roll back the later runs first",
            o.id,
            active.map_or("unknown".into(), |p| p.display().to_string())
        )));
    }
    let meta = RunMeta {
        kind: RunKind::Rollback,
        command: format!("xzup rollback {}", o.id),
        tier_from: o.tier_to.clone(),
        tier_to: o.tier_from.clone(),
        only: o.only.clone(),
        rolls_back: Some(o.id.clone()),
        project: o.project.clone(),
        compose_flavour: o.compose_flavour.clone(),
        previous_compose: o.new_compose.clone(),
        new_compose: o.previous_compose.clone(),
        settings: RunSettings {
            restore_data: settings.restore_data,
            wait_timeout_secs: settings.wait_timeout_secs,
            ..o.settings.clone()
        },
        secrets: Vec::new(),
    };
    let mut journal = Journal::create(&deployment.state_dir(), meta)?;
    journal.set_images_before(o.images_before.clone())?;
    if let Some(backup) = o.backup.clone() {
        journal.set_backup(backup)?;
    }
    let mut ctx = context_for(deployment, journal, observer);
    drive(&mut ctx)?;
    Ok(ctx.summary())
}
