//! The run loop: lock, journal, steps, and the switch to the rollback steps on failure.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::compose::ComposeFile;
use crate::deployment::Deployment;
use crate::docker::{Compose, ComposeCli, Docker, Flavour, Project};
use crate::fsutil;
use crate::interrupt;
use crate::journal::{
    self, ComposeFileRef, Journal, Outcome, Run, RunKind, RunMeta, RunSettings, Step,
};
use crate::lock::{Lock, LockGuard};
use crate::plan::Plan;
use crate::roles::{Role, RoleMap};

use super::{Observer, UpgradeError, rollback, steps};

/// The copies a run keeps in its journal dir: the compose file before the run and the one
/// it makes active, so resume and rollback never depend on files an operator may edit.
pub(super) const PREVIOUS_COPY: &str = "previous-compose.yml";
pub(super) const NEW_COPY: &str = "new-compose.yml";

/// What `apply` needs.
pub struct RunRequest<'a> {
    pub deployment: &'a Deployment,
    pub compose: &'a ComposeFile,
    pub plan: &'a Plan,
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

/// Why a step failed: a message for people (already redacted by the driver).
#[derive(Debug, Clone)]
pub(super) struct StepFailure(pub String);

impl<E: std::fmt::Display> From<E> for StepFailure {
    fn from(e: E) -> StepFailure {
        StepFailure(e.to_string())
    }
}

/// Everything a step works with.
pub(super) struct Ctx<'o> {
    pub dir: PathBuf,
    pub roles: RoleMap,
    pub docker: Docker,
    pub journal: Journal,
    pub observer: &'o mut dyn Observer,
    /// The Compose CLI, once preflight (or the journal) named it.
    pub cli: Option<ComposeCli>,
}

impl Ctx<'_> {
    pub fn run(&self) -> &Run {
        self.journal.run()
    }

    pub fn run_dir(&self) -> PathBuf {
        self.journal
            .run_dir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.dir.join(".xzup"))
    }

    /// An absolute path for a path the journal records relative to the deployment dir.
    pub fn abs(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir.join(path)
        }
    }

    /// The project with compose file `file`.
    pub fn compose(&mut self, file: &Path) -> Result<Compose, StepFailure> {
        let cli = match &self.cli {
            Some(cli) => cli.clone(),
            None => {
                let flavour = self
                    .run()
                    .compose_flavour
                    .as_deref()
                    .and_then(Flavour::parse);
                let cli = ComposeCli::detect_with(&self.docker, flavour)?;
                self.cli = Some(cli.clone());
                cli
            }
        };
        let project = match self.run().project.clone() {
            Some(project) => project,
            // A run stopped before preflight named the project: find it as preflight does.
            None => {
                let names: Vec<String> = ComposeFile::load(file)
                    .map(|c| c.container_names().into_values().collect())
                    .unwrap_or_default();
                let project =
                    Project::discover(&self.docker, cli.flavour, &self.dir, file, &names)?;
                self.journal.set_project(&project.name)?;
                project.name
            }
        };
        Ok(Compose::new(&self.docker, cli, project, file, &self.dir))
    }

    /// Runs one step with its bookkeeping: *started* in the journal before, *done* (or
    /// *failed*) after, and the observer told.
    pub fn step(
        &mut self,
        step: Step,
        body: impl FnOnce(&mut Self) -> Result<String, StepFailure>,
    ) -> Result<Result<(), StepFailure>, UpgradeError> {
        self.journal.start(step)?;
        self.observer.step_started(step);
        let started = Instant::now();
        test_pause(step);
        // Ctrl-C stops an apply step (the rollback follows); the rollback steps
        // themselves run to the end — a second Ctrl-C exits at once.
        let stop = || !step.is_rollback() && interrupt::requested();
        let result = if stop() {
            Err(StepFailure("interrupted by the operator".into()))
        } else {
            body(self)
        };
        let result = match result {
            Ok(_) if stop() => Err(StepFailure("interrupted by the operator".into())),
            other => other,
        };
        match result {
            Ok(detail) => {
                self.journal.finish(step, Some(&detail))?;
                self.observer.step_done(step, started.elapsed(), &detail);
                Ok(Ok(()))
            }
            Err(failure) => {
                self.journal.fail(step, &failure.0)?;
                self.observer
                    .step_failed(step, started.elapsed(), &failure.0);
                Ok(Err(failure))
            }
        }
    }

    /// The run's record as it stands.
    pub fn summary(&self) -> Summary {
        Summary {
            run: self.run().clone(),
        }
    }

    /// Records a warning in the journal and shows it.
    pub fn warn(&mut self, message: &str) -> Result<(), UpgradeError> {
        self.journal.warn(message)?;
        self.observer.warning(message);
        Ok(())
    }
}

/// A test hook: `XZUP_TEST_PAUSE_AT=<step>` waits (up to two minutes, or until Ctrl-C)
/// after the step is journaled as started, so the end-to-end tests can kill or interrupt
/// the process at a known point. Does nothing otherwise.
fn test_pause(step: Step) {
    if std::env::var("XZUP_TEST_PAUSE_AT").is_ok_and(|s| s == step.name()) {
        let until = Instant::now() + std::time::Duration::from_secs(120);
        while Instant::now() < until && !interrupt::requested() {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

fn take_lock(
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

/// `xzup apply`: runs the plan against the deployment.
pub fn apply(
    request: RunRequest<'_>,
    observer: &mut dyn Observer,
) -> Result<Summary, UpgradeError> {
    let deployment = request.deployment;
    let _lock = take_lock(deployment, "apply", observer)?;
    if let Some(unfinished) = journal::unfinished(&deployment.state_dir())? {
        let step = unfinished
            .next_step()
            .map_or("the end".to_string(), |s| s.name().to_string());
        return Err(UpgradeError::Unfinished {
            run: unfinished.id().to_string(),
            step,
        });
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
        rolls_back: None,
        project: None,
        compose_flavour: None,
        previous_compose: Some(previous),
        new_compose: Some(new),
        settings: request.settings.clone(),
        secrets: secrets.clone(),
    };
    let journal = Journal::create(&deployment.state_dir(), meta)?;
    let mut ctx = Ctx::new(deployment, journal, secrets, observer);
    // Keep both files beside the journal before anything changes.
    let run_dir = ctx.run_dir();
    for (name, text) in [
        (PREVIOUS_COPY, &request.compose.text),
        (NEW_COPY, &plan.rendered),
    ] {
        let path = run_dir.join(name);
        fsutil::write_atomic(&path, text.as_bytes(), 0o600).map_err(|e| {
            UpgradeError::Preflight {
                message: format!("cannot write `{}`: {e}", path.display()),
                hint: None,
            }
        })?;
    }
    drive(&mut ctx)?;
    Ok(ctx.summary())
}

/// `xzup resume`: continues the unfinished run from its first step not done.
pub fn resume(
    deployment: &Deployment,
    observer: &mut dyn Observer,
) -> Result<Summary, UpgradeError> {
    let _lock = take_lock(deployment, "resume", observer)?;
    let Some(journal) = journal::unfinished(&deployment.state_dir())? else {
        return Err(UpgradeError::NothingToResume);
    };
    let mut ctx = context_for(deployment, journal, observer);
    drive(&mut ctx)?;
    Ok(ctx.summary())
}

/// `xzup rollback [RUN]`: rolls back the unfinished run, or undoes a finished one.
pub fn rollback_run(
    deployment: &Deployment,
    run_id: Option<&str>,
    settings: RunSettings,
    observer: &mut dyn Observer,
) -> Result<Summary, UpgradeError> {
    let _lock = take_lock(deployment, "rollback", observer)?;
    let state_dir = deployment.state_dir();
    if let Some(mut unfinished) = journal::unfinished(&state_dir)? {
        if run_id.is_some_and(|id| id != unfinished.id()) {
            return Err(UpgradeError::Unfinished {
                run: unfinished.id().to_string(),
                step: unfinished
                    .next_step()
                    .map_or("the end".into(), |s| s.name().to_string()),
            });
        }
        if unfinished.run().rollback_reason.is_none() {
            unfinished.begin_rollback("rollback requested by the operator")?;
        }
        let mut ctx = context_for(deployment, unfinished, observer);
        ctx.journal_restore_override(settings.restore_data)?;
        return match drive(&mut ctx) {
            // The operator asked for this rollback: it succeeding is a success.
            Err(UpgradeError::RolledBack { .. }) | Ok(()) => Ok(ctx.summary()),
            Err(e) => Err(e),
        };
    }
    let original = match run_id {
        Some(id) => journal::find(&state_dir, id)?,
        None => last_undoable(&state_dir)?,
    };
    rollback::start_manual(deployment, original, settings, observer)
}

impl Ctx<'_> {
    /// A `--restore-data` given to `xzup rollback` for an unfinished run overrides the
    /// run's own setting when it is not the default.
    fn journal_restore_override(
        &mut self,
        restore: journal::RestoreData,
    ) -> Result<(), UpgradeError> {
        if restore != journal::RestoreData::Never {
            self.journal.set_restore_data(restore)?;
        }
        Ok(())
    }
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

pub(super) fn context_for<'o>(
    deployment: &Deployment,
    journal: Journal,
    observer: &'o mut dyn Observer,
) -> Ctx<'o> {
    // The secrets of both files the run moves between: the copies in the run's dir, else
    // the files themselves.
    let run = journal.run();
    let run_dir = journal.run_dir().map(Path::to_path_buf);
    let mut secrets = Vec::new();
    for (copy, file) in [
        (PREVIOUS_COPY, run.previous_compose.as_ref()),
        (NEW_COPY, run.new_compose.as_ref()),
    ] {
        let candidates = [
            run_dir.as_ref().map(|d| d.join(copy)),
            file.map(|f| deployment.dir.join(&f.path)),
        ];
        if let Some(compose) = candidates
            .into_iter()
            .flatten()
            .find_map(|p| ComposeFile::load(&p).ok())
        {
            secrets.extend(compose.secrets());
        }
    }
    secrets.sort();
    secrets.dedup();
    let mut journal = journal;
    journal.set_secrets(secrets.clone());
    Ctx::new(deployment, journal, secrets, observer)
}

impl<'o> Ctx<'o> {
    fn new(
        deployment: &Deployment,
        journal: Journal,
        secrets: Vec<String>,
        observer: &'o mut dyn Observer,
    ) -> Ctx<'o> {
        Ctx {
            dir: deployment.dir.clone(),
            roles: deployment.roles.clone(),
            docker: Docker::new().with_secrets(secrets),
            journal,
            observer,
            cli: None,
        }
    }
}

/// Runs the journal's remaining steps; on a failure after `down`, the rollback steps.
pub(super) fn drive(ctx: &mut Ctx<'_>) -> Result<(), UpgradeError> {
    if ctx.run().rollback_reason.is_none() && ctx.run().kind == RunKind::Apply {
        while let Some(step) = ctx.journal.next_step() {
            if let Err(failure) = ctx.step(step, |c| steps::run(c, step))? {
                if step == Step::Preflight {
                    ctx.journal.set_outcome(Outcome::Failed)?;
                    return Err(UpgradeError::Preflight {
                        message: failure.0,
                        hint: Some(
                            "nothing was changed; fix the cause, or pass --force to override the host checks"
                                .into(),
                        ),
                    });
                }
                ctx.journal
                    .begin_rollback(&format!("{} failed: {}", step.name(), failure.0))?;
                break;
            }
        }
        if ctx.run().rollback_reason.is_none() {
            ctx.journal.set_outcome(Outcome::Succeeded)?;
            return Ok(());
        }
    }
    rollback::drive(ctx)
}
