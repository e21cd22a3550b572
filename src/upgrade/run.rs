//! The entry points of a run: `apply` and `resume` — take the lock, open or find the
//! journal, hand the sequence of the run's backup mode to the loop ([`engine::drive`]).

use crate::compose::ComposeFile;
use crate::deployment::Deployment;
use crate::journal::{self, ComposeFileRef, Journal, Run, RunKind, RunMeta, RunSettings};
use crate::lock::{Lock, LockGuard};
use crate::plan::Plan;
use crate::roles::{Role, RoleMap};

use super::context::Ctx;
use super::engine;
use super::error::UpgradeError;
use super::observer::Observer;
use super::settings::RunOverrides;
use super::steps;

/// What `apply` needs.
pub struct RunRequest<'a> {
    pub deployment: &'a Deployment,
    pub compose: &'a ComposeFile,
    pub plan: &'a Plan,
    /// The services that play the roles, as the plan resolved them: recorded in the
    /// journal, so that resume and rollback use this mapping whatever changes meanwhile.
    pub roles: RoleMap,
    pub only: Vec<Role>,
    pub settings: RunSettings,
    /// What was asked, for the journal: `xzup apply --tier ultra`.
    pub command: String,
}

/// How a run ended, for the closing summary: its journal record.
#[derive(Debug, Clone)]
pub struct Summary {
    pub run: Run,
}

impl Summary {
    pub(super) fn of(ctx: &Ctx<'_>) -> Summary {
        Summary {
            run: ctx.run().clone(),
        }
    }
}

pub(super) fn take_lock(
    deployment: &Deployment,
    command: &str,
    observer: &mut dyn Observer,
) -> Result<LockGuard, UpgradeError> {
    let guard = Lock::acquire(&deployment.state_dir(), command)?;
    if let Some(stale) = guard.stale() {
        observer.warning(&stale.warning());
    }
    Ok(guard)
}

/// The refusal to start while `unfinished` is.
pub(super) fn unfinished_error(unfinished: &Journal) -> UpgradeError {
    UpgradeError::Unfinished {
        run: unfinished.id().to_string(),
        step: unfinished
            .next_step()
            .map_or("the end".to_string(), |s| s.name().to_string()),
    }
}

/// `xzup apply`: runs the plan against the deployment.
pub fn apply(
    request: RunRequest<'_>,
    observer: &mut dyn Observer,
) -> Result<Summary, UpgradeError> {
    let deployment = request.deployment;
    let _lock = take_lock(deployment, "apply", observer)?;
    if let Some(unfinished) = journal::unfinished(&deployment.state_dir())? {
        return Err(unfinished_error(&unfinished));
    }
    let plan = request.plan;
    let secrets = request.compose.secrets();
    let previous = ComposeFileRef::of_text(
        &deployment.dir,
        &request.compose.path,
        &request.compose.text,
    );
    let new = ComposeFileRef::of_text(&deployment.dir, &plan.target_file, &plan.rendered);
    let meta = RunMeta {
        kind: RunKind::Apply,
        command: request.command.clone(),
        tier_from: plan.from.tier.clone(),
        tier_to: plan.to.tier.clone(),
        only: request.only.clone(),
        roles: Some(request.roles.clone()),
        rolls_back: None,
        project: None,
        compose_flavour: None,
        previous_compose: Some(previous),
        new_compose: Some(new),
        tiers_file: deployment.tiers_file(),
        settings: request.settings.clone(),
        secrets: secrets.clone(),
    };
    let journal = Journal::create(&deployment.state_dir(), meta)?;
    let mut ctx = Ctx::new(
        deployment.dir.clone(),
        request.roles.clone(),
        journal,
        secrets,
        observer,
    );
    // Keep both files beside the journal before anything changes.
    ctx.keep_copies(&request.compose.text, &plan.rendered)?;
    let sequence = steps::for_settings(&ctx.run().settings);
    engine::drive(&mut ctx, sequence)?;
    Ok(Summary::of(&ctx))
}

/// `xzup resume`: continues the unfinished run from its first step not done, with the run
/// options given again (`--wait-timeout` …) in place of its own.
pub fn resume(
    deployment: &Deployment,
    overrides: &RunOverrides,
    observer: &mut dyn Observer,
) -> Result<Summary, UpgradeError> {
    // No run recorded: nothing to resume, said without taking the lock (its file would be
    // the first thing xzup writes here).
    if !journal::runs_dir(&deployment.state_dir()).exists() {
        return Err(UpgradeError::NothingToResume);
    }
    let _lock = take_lock(deployment, "resume", observer)?;
    let Some(mut journal) = journal::unfinished(&deployment.state_dir())? else {
        return Err(UpgradeError::NothingToResume);
    };
    for note in overrides.record(&mut journal, "xzup resume")? {
        observer.warning(&note);
    }
    let mut ctx = Ctx::for_run(deployment, journal, observer)?;
    let sequence = steps::for_settings(&ctx.run().settings);
    engine::drive(&mut ctx, sequence)?;
    Ok(Summary::of(&ctx))
}
