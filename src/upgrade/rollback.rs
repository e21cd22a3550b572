//! `xzup rollback [RUN]`: rolls back the unfinished run (the rollback steps of its own
//! journal), or undoes a finished, successful upgrade with a rollback run of its own.

use std::path::Path;

use crate::deployment::Deployment;
use crate::journal::{self, Journal, Outcome, RestoreData, RunKind, RunMeta, RunSettings};
use crate::state::State;

use super::context::Ctx;
use super::engine;
use super::error::UpgradeError;
use super::observer::Observer;
use super::run::{Summary, take_lock, unfinished_error};
use super::settings::RunOverrides;
use super::steps;

/// `xzup rollback [RUN]`: rolls back the unfinished run, or undoes a finished one. The run
/// options given replace an unfinished run's own.
pub fn rollback_run(
    deployment: &Deployment,
    run_id: Option<&str>,
    overrides: &RunOverrides,
    observer: &mut dyn Observer,
) -> Result<Summary, UpgradeError> {
    let state_dir = deployment.state_dir();
    // No run recorded: nothing to roll back, said without taking the lock (its file would
    // be the first thing xzup writes here).
    if !journal::runs_dir(&state_dir).exists() {
        match run_id {
            Some(id) => drop(journal::find(&state_dir, id)?),
            None => drop(last_undoable(&state_dir)?),
        }
    }
    let _lock = take_lock(deployment, "rollback", observer)?;
    if let Some(mut unfinished) = journal::unfinished(&state_dir)? {
        if run_id.is_some_and(|id| id != unfinished.id()) {
            return Err(unfinished_error(&unfinished));
        }
        if unfinished.run().rollback_reason.is_none() {
            unfinished.begin_rollback("rollback requested by the operator")?;
        }
        for note in overrides.record(&mut unfinished, "xzup rollback")? {
            observer.warning(&note);
        }
        let mut ctx = Ctx::for_run(deployment, unfinished, observer)?;
        let sequence = steps::for_settings(&ctx.run().settings);
        return match engine::drive(&mut ctx, sequence) {
            // The operator asked for this rollback: it succeeding is a success.
            Err(UpgradeError::RolledBack { .. }) | Ok(()) => Ok(Summary::of(&ctx)),
            Err(e) => Err(e),
        };
    }
    let original = match run_id {
        Some(id) => journal::find(&state_dir, id)?,
        None => last_undoable(&state_dir)?,
    };
    start_manual(deployment, original, overrides, observer)
}

/// The newest successful apply that no rollback undid yet.
fn last_undoable(state_dir: &Path) -> Result<Journal, UpgradeError> {
    let listing = journal::list(state_dir)?;
    for journal in listing.runs {
        let run = journal.run();
        if run.kind == RunKind::Apply
            && run.outcome == Outcome::Succeeded
            && run.undone_by.is_none()
        {
            return Ok(journal);
        }
        if run.kind == RunKind::Rollback && run.outcome == Outcome::Succeeded {
            break;
        }
    }
    Err(UpgradeError::NothingToRollBack(
        "no successful upgrade to roll back".into(),
    ))
}

/// `xzup rollback` of a finished, successful apply: a run of its own, with the upgrade's
/// settings except what the command gives (data restore: never unless asked).
fn start_manual(
    deployment: &Deployment,
    original: Journal,
    overrides: &RunOverrides,
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
    let settings = RunOverrides {
        // A version upgrade's data may be migrated forward past what the old images can
        // read: restored when a data-bearing image changed (`auto`). A tier change leaves
        // the data as the new stack wrote it.
        restore_data: Some(
            overrides
                .restore_data
                .unwrap_or(if o.kept_images.is_empty() {
                    RestoreData::Never
                } else {
                    RestoreData::Auto
                }),
        ),
        wait_timeout_secs: Some(
            overrides
                .wait_timeout_secs
                .unwrap_or(RunSettings::default().wait_timeout_secs),
        ),
        ..overrides.clone()
    }
    .applied_to(&o.settings);
    let meta = RunMeta {
        kind: RunKind::Rollback,
        command: format!("xzup rollback {}", o.id),
        tier_from: o.tier_to.clone(),
        tier_to: o.tier_from.clone(),
        only: o.only.clone(),
        // The mapping the upgrade ran with (none recorded: resolved as for an old journal).
        roles: o.roles.clone(),
        rolls_back: Some(o.id.clone()),
        project: o.project.clone(),
        compose_flavour: o.compose_flavour.clone(),
        previous_compose: o.new_compose.clone(),
        new_compose: o.previous_compose.clone(),
        tiers_file: o.tiers_file.clone(),
        settings,
        secrets: Vec::new(),
    };
    let mut journal = Journal::create(&deployment.state_dir(), meta)?;
    journal.set_images_before(o.images_before.clone())?;
    if !o.kept_images.is_empty() {
        journal.set_kept_images(o.kept_images.clone())?;
    }
    if let Some(backup) = o.backup.clone() {
        journal.set_backup(backup)?;
    }
    // A live upgrade is undone live: the values it found, set back.
    if !o.live_before.is_empty() {
        journal.set_live_before(o.live_before.clone())?;
    }
    let mut ctx = Ctx::for_run(deployment, journal, observer)?;
    let sequence = steps::for_settings(&ctx.run().settings);
    engine::drive(&mut ctx, sequence)?;
    Ok(Summary::of(&ctx))
}
