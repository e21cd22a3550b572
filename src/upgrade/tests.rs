//! The loop without Docker: scripted steps (the real sequence's names and failure rules,
//! scripted work) in a temp deployment dir with a real journal, read back from disk.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::exit::ExitStatus;
use crate::journal::{
    self, ComposeFileRef, Journal, JournalError, Outcome, Run, RunKind, RunMeta, StepStatus,
};
use crate::roles::RoleMap;

use super::context::Ctx;
use super::engine;
use super::error::{RecordError, StepError, UpgradeError};
use super::observer::Observer;
use super::step::{Sequence, Step};
use super::steps::STANDARD;

use journal::Step::{
    Backup, Commit, Down, Preflight, RollbackActivate, RollbackCheck, RollbackDown,
    RollbackRestoreData, RollbackUp, Up, Verify, WriteCompose,
};

/// Something a scripted step does before it answers.
type Action = fn(&mut Ctx<'_>) -> Result<(), StepError>;

/// What the scripted steps do: every step succeeds unless named in `fail`; `during` runs
/// inside one step before it answers.
#[derive(Default)]
struct Script {
    fail: Vec<journal::Step>,
    during: Option<(journal::Step, Action)>,
    /// A second action, at another step.
    also_during: Option<(journal::Step, Action)>,
    ran: RefCell<Vec<journal::Step>>,
}

impl Script {
    fn failing(steps: &[journal::Step]) -> Script {
        Script {
            fail: steps.to_vec(),
            ..Script::default()
        }
    }

    fn ran(&self) -> Vec<journal::Step> {
        self.ran.borrow().clone()
    }
}

/// A step of the standard sequence with scripted work: its name, whether it changes
/// nothing and the state it names on failure are the real step's.
struct Scripted<'s> {
    real: &'static dyn Step,
    script: &'s Script,
}

impl Step for Scripted<'_> {
    fn id(&self) -> journal::Step {
        self.real.id()
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        let id = self.id();
        self.script.ran.borrow_mut().push(id);
        for (at, action) in self.script.during.iter().chain(&self.script.also_during) {
            if *at == id {
                action(ctx)?;
            }
        }
        if self.script.fail.contains(&id) {
            return Err(StepError::failed(format!("{id} broke (scripted)")));
        }
        Ok(format!("{id} ok"))
    }

    fn changes_nothing(&self) -> bool {
        self.real.changes_nothing()
    }

    fn state_if_failed(&self) -> &'static str {
        self.real.state_if_failed()
    }
}

/// Runs the loop over the standard sequence with `script` doing the work.
fn drive(ctx: &mut Ctx<'_>, script: &Script) -> Result<(), UpgradeError> {
    let scripted = |steps: &[&'static dyn Step]| -> Vec<Scripted<'_>> {
        steps
            .iter()
            .map(|&real| Scripted { real, script })
            .collect()
    };
    let (apply, rollback) = (scripted(STANDARD.apply), scripted(STANDARD.rollback));
    let apply: Vec<&dyn Step> = apply.iter().map(|s| s as &dyn Step).collect();
    let rollback: Vec<&dyn Step> = rollback.iter().map(|s| s as &dyn Step).collect();
    engine::drive(
        ctx,
        &Sequence {
            apply: &apply,
            rollback: &rollback,
        },
    )
}

/// What the observer was told, one line per event.
#[derive(Default)]
struct Seen(Vec<String>);

impl Observer for Seen {
    fn step_started(&mut self, step: journal::Step) {
        self.0.push(format!("started {step}"));
    }
    fn step_done(&mut self, step: journal::Step, _: Duration, detail: &str) {
        self.0.push(format!("done {step}: {detail}"));
    }
    fn step_skipped(&mut self, step: journal::Step, reason: &str) {
        self.0.push(format!("skipped {step}: {reason}"));
    }
    fn step_failed(&mut self, step: journal::Step, _: Duration, error: &str) {
        self.0.push(format!("failed {step}: {error}"));
    }
    fn warning(&mut self, message: &str) {
        self.0.push(format!("warning: {message}"));
    }
    fn waiting(&mut self, _: &str) {}
    fn progress_phase(&mut self, _: &str, _: u64) {}
    fn progress(&mut self, _: u64) {}
}

fn state_dir(dir: &Path) -> PathBuf {
    dir.join(crate::state::STATE_DIR)
}

fn file(path: &str) -> Option<ComposeFileRef> {
    Some(ComposeFileRef::of_text(
        Path::new(""),
        Path::new(path),
        path,
    ))
}

/// A new upgrade's journal in `dir`: seed (`docker-compose.yml`) to grow.
fn new_upgrade(dir: &Path) -> Journal {
    let meta = RunMeta {
        kind: RunKind::Apply,
        command: "xzup apply --tier grow".into(),
        tier_from: "seed".into(),
        tier_to: "grow".into(),
        previous_compose: file("docker-compose.yml"),
        new_compose: file("docker-compose-grow.yml"),
        ..RunMeta::default()
    };
    Journal::create(&state_dir(dir), meta).unwrap()
}

fn ctx<'o>(dir: &Path, journal: Journal, seen: &'o mut Seen) -> Ctx<'o> {
    Ctx::new(
        dir.to_path_buf(),
        RoleMap::default(),
        journal,
        Vec::new(),
        seen,
    )
}

/// The run as its journal on disk has it.
fn on_disk(ctx: &Ctx<'_>) -> Run {
    Journal::load(ctx.journal.path()).unwrap().run().clone()
}

fn statuses(run: &Run) -> Vec<(journal::Step, StepStatus)> {
    run.steps.iter().map(|r| (r.step, r.status)).collect()
}

fn done(steps: &[journal::Step]) -> Vec<(journal::Step, StepStatus)> {
    steps.iter().map(|&s| (s, StepStatus::Done)).collect()
}

/// Makes every later write of the journal fail, as a full disk would: `journal.json`
/// becomes a directory, which no rename can replace (even for root). The file is kept
/// beside it for [`mend_journal`].
fn break_journal(ctx: &mut Ctx<'_>) -> Result<(), StepError> {
    let path = ctx.journal.path().to_path_buf();
    std::fs::rename(&path, path.with_extension("kept")).unwrap();
    std::fs::create_dir(&path).unwrap();
    Ok(())
}

fn mend_journal(path: &Path) {
    std::fs::remove_dir(path).unwrap();
    std::fs::rename(path.with_extension("kept"), path).unwrap();
}

const APPLY: [journal::Step; 7] = journal::Step::APPLY;
const ROLLBACK: [journal::Step; 5] = journal::Step::ROLLBACK;

#[test]
fn every_step_done_is_a_success() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Seen::default();
    let mut ctx = ctx(dir.path(), new_upgrade(dir.path()), &mut seen);
    let script = Script::default();
    drive(&mut ctx, &script).unwrap();
    assert_eq!(script.ran(), APPLY);
    let run = on_disk(&ctx);
    assert_eq!(statuses(&run), done(&APPLY));
    assert_eq!(run.outcome, Outcome::Succeeded);
    assert!(run.finished_at.is_some());
    drop(ctx);
    assert_eq!(
        seen.0[..2],
        ["started preflight", "done preflight: preflight ok"]
    );
    assert_eq!(seen.0.len(), 14);
}

#[test]
fn a_failure_at_up_rolls_back_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Seen::default();
    let mut ctx = ctx(dir.path(), new_upgrade(dir.path()), &mut seen);
    let script = Script::failing(&[Up]);
    let err = drive(&mut ctx, &script).unwrap_err();
    match &err {
        UpgradeError::RolledBack {
            run,
            step,
            cause,
            file,
        } => {
            assert_eq!(run, ctx.journal.id());
            assert_eq!(step, "up");
            assert_eq!(cause, "up broke (scripted)");
            assert_eq!(file, Path::new("docker-compose.yml"));
        }
        other => panic!("not rolled back: {other:?}"),
    }
    assert_eq!(err.exit_status(), ExitStatus::RolledBack);
    assert_eq!(err.exit_status().code(), 3);
    assert_eq!(
        script.ran(),
        [&APPLY[..5], &ROLLBACK[..]].concat(),
        "verify and commit never ran"
    );
    let run = on_disk(&ctx);
    let mut expected = done(&[Preflight, Down, Backup, WriteCompose]);
    expected.push((Up, StepStatus::Failed));
    expected.extend(done(&ROLLBACK));
    assert_eq!(statuses(&run), expected);
    assert_eq!(
        run.step(Up).unwrap().error.as_deref(),
        Some("up broke (scripted)")
    );
    assert_eq!(
        run.rollback_reason.as_deref(),
        Some("up failed: up broke (scripted)")
    );
    assert_eq!(run.outcome, Outcome::RolledBack);
    drop(ctx);
    assert!(
        seen.0
            .contains(&"failed up: up broke (scripted)".to_string())
    );
}

#[test]
fn a_failing_rollback_step_exits_4_and_names_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Seen::default();
    let mut ctx = ctx(dir.path(), new_upgrade(dir.path()), &mut seen);
    let script = Script::failing(&[Up, RollbackUp]);
    let err = drive(&mut ctx, &script).unwrap_err();
    let UpgradeError::RollbackFailed(failed) = &err else {
        panic!("not a failed rollback: {err:?}");
    };
    assert_eq!(failed.run, ctx.journal.id());
    assert_eq!(failed.step, "up");
    assert_eq!(failed.cause, "up broke (scripted)");
    assert_eq!(failed.rollback_step, "rollback-up");
    assert_eq!(failed.rollback_cause, "rollback-up broke (scripted)");
    assert_eq!(
        failed.state,
        "state: the stack is down; no backup was taken; the file to return to is docker-compose.yml"
    );
    assert_eq!(err.exit_status(), ExitStatus::RollbackFailed);
    assert_eq!(err.exit_status().code(), 4);
    assert_eq!(
        script.ran(),
        [&APPLY[..5], &ROLLBACK[..4]].concat(),
        "rollback-check never ran"
    );
    let run = on_disk(&ctx);
    let rollback: Vec<_> = statuses(&run).into_iter().skip(5).collect();
    assert_eq!(
        rollback,
        [
            (RollbackDown, StepStatus::Done),
            (RollbackRestoreData, StepStatus::Done),
            (RollbackActivate, StepStatus::Done),
            (RollbackUp, StepStatus::Failed),
        ]
    );
    assert_eq!(run.outcome, Outcome::RollbackFailed);
}

#[test]
fn a_preflight_failure_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Seen::default();
    let mut ctx = ctx(dir.path(), new_upgrade(dir.path()), &mut seen);
    let script = Script::failing(&[Preflight]);
    let err = drive(&mut ctx, &script).unwrap_err();
    let UpgradeError::NothingChanged {
        step,
        message,
        hint,
    } = &err
    else {
        panic!("not a refusal: {err:?}");
    };
    assert_eq!(step, "preflight");
    assert_eq!(message, "preflight broke (scripted)");
    assert!(hint.as_deref().unwrap().starts_with("nothing was changed"));
    assert_eq!(err.to_string(), "preflight: preflight broke (scripted)");
    assert_eq!(err.exit_status(), ExitStatus::Failure);
    assert_eq!(script.ran(), [Preflight], "no rollback step ran");
    let run = on_disk(&ctx);
    assert_eq!(statuses(&run), [(Preflight, StepStatus::Failed)]);
    assert_eq!(run.rollback_reason, None);
    assert_eq!(run.outcome, Outcome::Failed);
}

#[test]
fn a_step_started_and_not_done_is_redone_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    // A run killed during `backup`: preflight and down done, backup started.
    let mut killed = new_upgrade(dir.path());
    for step in [Preflight, Down] {
        killed.start(step).unwrap();
        killed.finish(step, Some("done before the kill")).unwrap();
    }
    killed.start(Backup).unwrap();
    drop(killed);

    let resumed = journal::unfinished(&state_dir(dir.path()))
        .unwrap()
        .expect("the killed run is unfinished");
    let mut seen = Seen::default();
    let mut ctx = ctx(dir.path(), resumed, &mut seen);
    let script = Script::default();
    drive(&mut ctx, &script).unwrap();
    assert_eq!(script.ran(), [Backup, WriteCompose, Up, Verify, Commit]);
    let run = on_disk(&ctx);
    assert_eq!(statuses(&run), done(&APPLY));
    let attempts: Vec<u32> = run.steps.iter().map(|r| r.attempts).collect();
    assert_eq!(attempts, [1, 1, 2, 1, 1, 1, 1], "backup ran twice");
    assert_eq!(
        run.step(Down).unwrap().detail.as_deref(),
        Some("done before the kill")
    );
    assert_eq!(run.outcome, Outcome::Succeeded);
}

/// The run stopped at `up` without rolling back, and said so.
fn assert_stopped_at_up(err: &UpgradeError, run_id: &str) {
    let UpgradeError::Stopped { run, step, source } = err else {
        panic!("not stopped: {err:?}");
    };
    assert_eq!(run, run_id);
    assert_eq!(step, "up");
    assert!(
        matches!(
            source,
            RecordError::Journal(JournalError::Io {
                action: "write",
                ..
            })
        ),
        "{source:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("run `{run_id}` stopped at `up`: cannot write `")),
        "{message}"
    );
    assert!(message.contains("nothing was rolled back"), "{message}");
    assert!(err.hint().unwrap().contains("xzup resume"));
    assert_eq!(err.exit_status(), ExitStatus::Failure);
}

#[test]
fn a_journal_write_failing_inside_a_step_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Seen::default();
    let mut ctx = ctx(dir.path(), new_upgrade(dir.path()), &mut seen);
    let script = Script {
        during: Some((Up, |ctx| {
            break_journal(ctx)?;
            ctx.warn("a warning the journal cannot take")?;
            Ok(())
        })),
        ..Script::default()
    };
    let err = drive(&mut ctx, &script).unwrap_err();
    assert_stopped_at_up(&err, ctx.journal.id());
    assert_eq!(script.ran(), &APPLY[..5], "no rollback step ran");
    let path = ctx.journal.path().to_path_buf();
    mend_journal(&path);
    let run = on_disk(&ctx);
    let mut expected = done(&APPLY[..4]);
    expected.push((Up, StepStatus::Started));
    assert_eq!(
        statuses(&run),
        expected,
        "the journal says where it stopped"
    );
    assert_eq!(run.rollback_reason, None);
    assert_eq!(run.outcome, Outcome::InProgress);
    assert!(run.warnings.is_empty());

    // Once the journal can be written again, a resume goes on from `up`.
    let resumed = Journal::load(&path).unwrap();
    drop(ctx);
    let mut seen = Seen::default();
    let mut ctx = self::ctx(dir.path(), resumed, &mut seen);
    let script = Script::default();
    drive(&mut ctx, &script).unwrap();
    assert_eq!(script.ran(), [Up, Verify, Commit]);
    assert_eq!(on_disk(&ctx).outcome, Outcome::Succeeded);
}

#[test]
fn a_journal_write_failing_after_a_step_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Seen::default();
    let mut ctx = ctx(dir.path(), new_upgrade(dir.path()), &mut seen);
    let script = Script {
        during: Some((Up, break_journal)),
        ..Script::default()
    };
    let err = drive(&mut ctx, &script).unwrap_err();
    assert_stopped_at_up(&err, ctx.journal.id());
    assert_eq!(script.ran(), &APPLY[..5], "no rollback step ran");
    mend_journal(ctx.journal.path());
    let run = on_disk(&ctx);
    assert_eq!(run.step_status(Up), Some(StepStatus::Started));
    assert_eq!(run.rollback_reason, None);
    assert_eq!(run.outcome, Outcome::InProgress);
    drop(ctx);
    let last = seen.0.last().unwrap();
    assert!(last.starts_with("failed up: cannot write `"), "{last}");
}

static STOP: AtomicBool = AtomicBool::new(false);

#[test]
fn ctrl_c_stops_an_upgrade_step_and_the_rollback_runs_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Seen::default();
    let mut ctx = ctx(dir.path(), new_upgrade(dir.path()), &mut seen);
    ctx.stop_requested = || STOP.load(Ordering::SeqCst);
    let script = Script {
        during: Some((Down, |_| {
            STOP.store(true, Ordering::SeqCst);
            Ok(())
        })),
        ..Script::default()
    };
    let err = drive(&mut ctx, &script).unwrap_err();
    let UpgradeError::RolledBack { step, cause, .. } = &err else {
        panic!("not rolled back: {err:?}");
    };
    assert_eq!(
        (step.as_str(), cause.as_str()),
        ("down", "interrupted by the operator")
    );
    assert_eq!(script.ran(), [&APPLY[..2], &ROLLBACK[..]].concat());
    let run = on_disk(&ctx);
    assert_eq!(run.step_status(Down), Some(StepStatus::Failed));
    assert_eq!(
        run.rollback_reason.as_deref(),
        Some("down failed: interrupted by the operator")
    );
    assert_eq!(run.outcome, Outcome::RolledBack);
}

static STOP_1: AtomicBool = AtomicBool::new(false);
static STOP_2: AtomicBool = AtomicBool::new(false);

#[test]
fn a_second_ctrl_c_stops_the_rollback_at_the_next_step_and_leaves_it_resumable() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Seen::default();
    let mut ctx = ctx(dir.path(), new_upgrade(dir.path()), &mut seen);
    ctx.stop_requested = || STOP_1.load(Ordering::SeqCst);
    ctx.stop_again = || STOP_2.load(Ordering::SeqCst);
    let script = Script {
        during: Some((Up, |_| {
            STOP_1.store(true, Ordering::SeqCst);
            Ok(())
        })),
        ..Script::default()
    };
    // The second Ctrl-C comes while `rollback-down` runs: it finishes, nothing after it
    // starts.
    let script = Script {
        also_during: Some((ROLLBACK[0], |_| {
            STOP_2.store(true, Ordering::SeqCst);
            Ok(())
        })),
        ..script
    };
    let err = drive(&mut ctx, &script).unwrap_err();
    let UpgradeError::InterruptedAgain { step, .. } = &err else {
        panic!("not interrupted again: {err:?}");
    };
    assert_eq!(step, ROLLBACK[1].name());
    assert_eq!(err.exit_status(), crate::exit::ExitStatus::Interrupted);
    assert!(
        err.hint()
            .unwrap()
            .starts_with("interrupted again: run `xzup resume` or `xzup rollback`"),
        "{:?}",
        err.hint()
    );
    assert_eq!(script.ran(), [&APPLY[..5], &ROLLBACK[..1]].concat());
    let run = on_disk(&ctx);
    assert_eq!(run.outcome, Outcome::InProgress, "resumable");
    assert_eq!(run.step_status(ROLLBACK[0]), Some(StepStatus::Done));
    assert_eq!(run.step_status(ROLLBACK[1]), None);
    assert_eq!(run.next_step(), Some(ROLLBACK[1]));
}

/// A finished upgrade, and a manual rollback run of it.
fn finished_upgrade_and_its_rollback(dir: &Path) -> (String, Journal) {
    let mut original = new_upgrade(dir);
    for step in APPLY {
        original.start(step).unwrap();
        original.finish(step, None).unwrap();
    }
    original.set_outcome(Outcome::Succeeded).unwrap();
    let o = original.run();
    let meta = RunMeta {
        kind: RunKind::Rollback,
        command: format!("xzup rollback {}", o.id),
        tier_from: o.tier_to.clone(),
        tier_to: o.tier_from.clone(),
        rolls_back: Some(o.id.clone()),
        previous_compose: o.new_compose.clone(),
        new_compose: o.previous_compose.clone(),
        ..RunMeta::default()
    };
    let rollback = Journal::create(&state_dir(dir), meta).unwrap();
    (o.id.clone(), rollback)
}

#[test]
fn a_manual_rollback_runs_the_rollback_steps_and_marks_the_run_it_undid() {
    let dir = tempfile::tempdir().unwrap();
    let (original, rollback) = finished_upgrade_and_its_rollback(dir.path());
    let mut seen = Seen::default();
    let mut ctx = ctx(dir.path(), rollback, &mut seen);
    let script = Script::default();
    drive(&mut ctx, &script).unwrap();
    assert_eq!(script.ran(), ROLLBACK);
    assert_eq!(on_disk(&ctx).outcome, Outcome::Succeeded);
    let undone = journal::find(&state_dir(dir.path()), &original).unwrap();
    assert_eq!(undone.run().undone_by.as_deref(), Some(ctx.journal.id()));
}

#[test]
fn a_failed_manual_rollback_exits_4_and_names_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let (original, rollback) = finished_upgrade_and_its_rollback(dir.path());
    let mut seen = Seen::default();
    let mut ctx = ctx(dir.path(), rollback, &mut seen);
    let script = Script::failing(&[RollbackCheck]);
    let err = drive(&mut ctx, &script).unwrap_err();
    let UpgradeError::ManualRollbackFailed { step, state, .. } = &err else {
        panic!("not a failed rollback: {err:?}");
    };
    assert_eq!(step, "rollback-check");
    assert_eq!(
        state,
        "state: the old stack was started but is not healthy; no backup was taken; the file to return to is docker-compose.yml"
    );
    assert_eq!(err.exit_status().code(), 4);
    assert_eq!(on_disk(&ctx).outcome, Outcome::RollbackFailed);
    let original = journal::find(&state_dir(dir.path()), &original).unwrap();
    assert_eq!(original.run().undone_by, None);
}

/// Resume and rollback use the role map the run recorded, whatever the compose file says
/// now; a journal from before xzup recorded one gets it from the file the run started
/// from, and keeps it.
#[test]
fn a_run_keeps_its_role_map() {
    use crate::deployment::{Deployment, DeploymentOptions};
    use crate::roles::{Reason, Role};

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The deployment's file has changed since the run started: its server is renamed.
    std::fs::write(
        dir.join("docker-compose.yml"),
        "services:\n  renamed:\n    image: xiaozhi-esp32-server:server_custom\n",
    )
    .unwrap();
    let deployment = Deployment::open(&DeploymentOptions {
        dir: dir.to_path_buf(),
        ..DeploymentOptions::default()
    })
    .unwrap();

    let mut recorded = RoleMap::empty();
    recorded.assign(Role::Server, "xiaozhi-esp32-server", Reason::UpstreamName);
    recorded.assign(Role::Web, "console", Reason::Ports { ports: vec![8002] });
    let meta = RunMeta {
        kind: RunKind::Apply,
        previous_compose: file("docker-compose.yml"),
        new_compose: file("docker-compose-grow.yml"),
        roles: Some(recorded.clone()),
        ..RunMeta::default()
    };
    let journal = Journal::create(&state_dir(dir), meta).unwrap();
    let mut seen = Seen::default();
    let ctx = Ctx::for_run(&deployment, journal, &mut seen).unwrap();
    assert_eq!(ctx.roles, recorded);

    // An old journal: none recorded, the copy in the run dir says which file it started
    // from.
    let journal = new_upgrade(dir);
    assert_eq!(journal.run().roles, None);
    std::fs::write(
        journal.run_dir().join(super::context::PREVIOUS_COPY),
        "services:\n  xiaozhi-esp32-server:\n    image: x\n  kv:\n    image: redis:8.0\n",
    )
    .unwrap();
    let path = journal.path().to_path_buf();
    let mut seen = Seen::default();
    let ctx = Ctx::for_run(&deployment, journal, &mut seen).unwrap();
    let mut resolved = RoleMap::empty();
    resolved.assign(Role::Server, "xiaozhi-esp32-server", Reason::UpstreamName);
    resolved.assign(
        Role::Redis,
        "kv",
        Reason::Image {
            image: "redis:8.0".into(),
        },
    );
    assert_eq!(ctx.roles, resolved);
    assert_eq!(Journal::load(&path).unwrap().run().roles, Some(resolved));
}
