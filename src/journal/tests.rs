use std::fs;
use std::os::unix::fs::PermissionsExt;

use chrono::{DateTime, Duration, Utc};

use super::*;

fn meta(kind: RunKind, to: &str) -> RunMeta {
    RunMeta {
        kind,
        command: format!("xzup {kind} --tier {to}"),
        tier_from: "low".to_string(),
        tier_to: to.to_string(),
        ..RunMeta::default()
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// Runs `steps` through start and finish.
/// A new journal in a scratch state dir (kept while the dir lives).
fn scratch(meta: RunMeta) -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::create(&dir.path().join(".xzup"), meta).unwrap();
    (dir, journal)
}

fn complete(journal: &mut Journal, steps: &[Step]) {
    for &step in steps {
        journal.start(step).unwrap();
        journal.finish(step, None).unwrap();
    }
}

#[test]
fn create_writes_a_private_journal_in_its_own_run_dir() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".xzup");
    let journal = Journal::create(&state, meta(RunKind::Apply, "ultra")).unwrap();

    let id = journal.id().to_string();
    assert!(id.ends_with("-apply-ultra"), "{id}");
    assert_eq!(id.len(), "20261125-193000-apply-ultra".len(), "{id}");
    let path = state.join("runs").join(&id).join("journal.json");
    assert_eq!(journal.path(), path.as_path());
    assert_eq!(journal.run_dir(), state.join("runs").join(&id).as_path());
    assert_eq!(mode(&path), 0o600);
    for d in [&state, &state.join("runs"), &state.join("runs").join(&id)] {
        assert_eq!(mode(d), 0o700, "{}", d.display());
    }
    let back = Journal::load(&path).unwrap();
    assert_eq!(back.run(), journal.run());
    assert_eq!(back.run().schema, 1, "a direct run: readable by every xzup");
    assert_eq!(back.run().outcome, Outcome::InProgress);
    assert!(back.run().steps.is_empty());
    assert_eq!(back.next_step(), Some(Step::Preflight));
}

#[test]
fn a_started_step_survives_a_reload_and_is_redone() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".xzup");
    let mut journal = Journal::create(&state, meta(RunKind::Apply, "high")).unwrap();
    complete(&mut journal, &[Step::Preflight, Step::Down]);
    journal.start(Step::Backup).unwrap();
    // The process dies here: what is on disk is all a resume has.
    let path = journal.path().to_path_buf();
    drop(journal);

    let mut resumed = Journal::load(&path).unwrap();
    assert_eq!(resumed.step_status(Step::Down), Some(StepStatus::Done));
    assert_eq!(resumed.step_status(Step::Backup), Some(StepStatus::Started));
    assert_eq!(resumed.step_status(Step::Up), None);
    assert_eq!(resumed.next_step(), Some(Step::Backup));
    assert!(!resumed.is_finished());

    resumed.start(Step::Backup).unwrap();
    resumed
        .finish(Step::Backup, Some("backups/backup-1.tar.gz"))
        .unwrap();
    let record = resumed.run().step(Step::Backup).unwrap().clone();
    assert_eq!(record.attempts, 2);
    assert_eq!(record.detail.as_deref(), Some("backups/backup-1.tar.gz"));
    assert!(record.finished_at.is_some() && record.duration_ms.is_some());
    assert_eq!(resumed.next_step(), Some(Step::WriteCompose));
    // One record per step, in the order first started.
    let order: Vec<Step> = resumed.run().steps.iter().map(|r| r.step).collect();
    assert_eq!(order, [Step::Preflight, Step::Down, Step::Backup]);
    assert_eq!(Journal::load(&path).unwrap().run(), resumed.run());
}

#[test]
fn the_resume_point_is_the_first_step_not_complete() {
    let (_dir, mut journal) = scratch(meta(RunKind::Apply, "high"));
    complete(&mut journal, &Step::APPLY[..4]);
    assert_eq!(journal.next_step(), Some(Step::Up));
    complete(&mut journal, &[Step::Up, Step::Verify]);
    journal.skip(Step::Commit, "nothing to commit").unwrap();
    assert_eq!(journal.step_status(Step::Commit), Some(StepStatus::Skipped));
    assert_eq!(journal.next_step(), None);
}

#[test]
fn an_automatic_rollback_moves_resume_to_the_rollback_steps() {
    let (_dir, mut journal) = scratch(meta(RunKind::Apply, "extreme"));
    complete(&mut journal, &Step::APPLY[..4]);
    journal.start(Step::Up).unwrap();
    journal
        .fail(Step::Up, "Range of CPUs is from 0.01 to 2.00")
        .unwrap();
    assert_eq!(journal.next_step(), Some(Step::Up));
    journal.begin_rollback("up failed").unwrap();
    assert_eq!(journal.next_step(), Some(Step::RollbackDown));
    complete(&mut journal, &[Step::RollbackDown]);
    journal
        .skip(Step::RollbackRestoreData, "--restore-data never")
        .unwrap();
    assert_eq!(journal.next_step(), Some(Step::RollbackActivate));
    assert_eq!(
        journal.run().failed_step().unwrap().error.as_deref(),
        Some("Range of CPUs is from 0.01 to 2.00")
    );

    let (_manual_dir, manual) = scratch(meta(RunKind::Rollback, "low"));
    assert_eq!(manual.next_step(), Some(Step::RollbackDown));
}

#[test]
fn finishing_a_step_never_started_is_refused() {
    let (_dir, mut journal) = scratch(meta(RunKind::Apply, "high"));
    let err = journal.finish(Step::Down, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "step `down` was finished without being started"
    );
    // Failing a step that refused before it began is fine, and recorded.
    journal.fail(Step::Preflight, "cpus 4 > 2 cores").unwrap();
    let record = journal.run().step(Step::Preflight).unwrap();
    assert_eq!((record.status, record.attempts), (StepStatus::Failed, 0));
}

#[test]
fn outcome_sets_the_end_time() {
    let (_dir, mut journal) = scratch(meta(RunKind::Apply, "high"));
    journal.set_outcome(Outcome::Failed).unwrap();
    assert!(journal.is_finished());
    assert!(journal.run().finished_at.is_some());
    journal.set_outcome(Outcome::InProgress).unwrap();
    assert!(journal.run().finished_at.is_none());
}

/// Sets a step's record by hand (times the test chooses).
fn put(run: &mut Run, step: Step, status: StepStatus, from: &str, to: Option<&str>) {
    run.steps.retain(|r| r.step != step);
    run.steps.push(StepRecord {
        step,
        status,
        attempts: 1,
        started_at: at(from),
        finished_at: to.map(at),
        duration_ms: None,
        detail: None,
        error: None,
        ready_ms: None,
    });
}

#[test]
fn downtime_runs_from_down_to_healthy() {
    let mut run = scratch(meta(RunKind::Apply, "high")).1.run().clone();
    assert_eq!(run.downtime_ms(), None, "never went down");
    use StepStatus::*;
    put(
        &mut run,
        Step::Down,
        Done,
        "2026-11-25T19:30:01Z",
        Some("2026-11-25T19:30:03Z"),
    );
    assert_eq!(run.downtime_ms(), None, "still down");
    put(&mut run, Step::Up, Started, "2026-11-25T19:30:10Z", None);
    assert_eq!(run.downtime_ms(), None, "not healthy yet");
    put(
        &mut run,
        Step::Up,
        Done,
        "2026-11-25T19:30:10Z",
        Some("2026-11-25T19:30:22.5Z"),
    );
    assert_eq!(run.downtime_ms(), Some(21_500));

    // Verify failed after a healthy up: a second window, from rollback-down to healthy.
    put(
        &mut run,
        Step::RollbackDown,
        Done,
        "2026-11-25T19:31:00Z",
        Some("2026-11-25T19:31:02Z"),
    );
    assert_eq!(run.downtime_ms(), None);
    put(
        &mut run,
        Step::RollbackCheck,
        Done,
        "2026-11-25T19:31:10Z",
        Some("2026-11-25T19:31:15Z"),
    );
    assert_eq!(run.downtime_ms(), Some(21_500 + 15_000));

    // Up failed: down from `down` until the old stack is back.
    put(
        &mut run,
        Step::Up,
        Failed,
        "2026-11-25T19:30:10Z",
        Some("2026-11-25T19:30:11Z"),
    );
    assert_eq!(run.downtime_ms(), Some(74_000));
}

#[test]
fn the_outage_ends_when_up_saw_the_stack_ready_and_splits_into_its_steps() {
    let mut run = scratch(meta(RunKind::Apply, "high")).1.run().clone();
    use StepStatus::*;
    let steps = [
        (
            Step::Preflight,
            "2026-11-25T19:30:00Z",
            "2026-11-25T19:30:01Z",
        ),
        (Step::Down, "2026-11-25T19:30:01Z", "2026-11-25T19:30:03Z"),
        (Step::Backup, "2026-11-25T19:30:03Z", "2026-11-25T19:30:08Z"),
        (
            Step::WriteCompose,
            "2026-11-25T19:30:08Z",
            "2026-11-25T19:30:08.2Z",
        ),
        (Step::Up, "2026-11-25T19:30:08.2Z", "2026-11-25T19:30:22.5Z"),
        (
            Step::Verify,
            "2026-11-25T19:30:22.5Z",
            "2026-11-25T19:30:40Z",
        ),
    ];
    assert_eq!(run.outage_parts(), None);
    for (step, from, to) in steps {
        put(&mut run, step, Done, from, Some(to));
    }
    // A step skipped inside the window is no part of it.
    put(
        &mut run,
        Step::Delta,
        Skipped,
        "2026-11-25T19:30:03Z",
        Some("2026-11-25T19:30:03Z"),
    );
    // An older journal: no ready time, the outage ends when up is done.
    assert_eq!(run.downtime_ms(), Some(21_500));
    run.steps
        .iter_mut()
        .find(|r| r.step == Step::Up)
        .unwrap()
        .ready_ms = Some(11_300);
    assert_eq!(run.downtime_ms(), Some(18_500));
    assert_eq!(
        run.outage_parts(),
        Some(vec![
            (Step::Down, 2_000),
            (Step::Backup, 5_000),
            (Step::WriteCompose, 200),
            (Step::Up, 11_300),
        ])
    );
}

#[test]
fn the_stored_downtime_follows_the_steps() {
    let (_dir, mut journal) = scratch(meta(RunKind::Apply, "high"));
    complete(&mut journal, &Step::APPLY[..5]);
    let expected = {
        let down = journal.run().step(Step::Down).unwrap().started_at;
        let up = journal.run().step(Step::Up).unwrap().finished_at.unwrap();
        time::millis_between(&down, &up)
    };
    assert_eq!(journal.run().downtime_ms, Some(expected));
}

#[test]
fn the_journal_holds_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".xzup");
    let secret = "S3cret-pw!";
    let mut m = meta(RunKind::Apply, "ultra");
    m.secrets = vec!["".to_string(), secret.to_string(), "S3cret".to_string()];
    m.command = format!("xzup apply --tier ultra  # {secret}");
    let mut journal = Journal::create(&state, m).unwrap();
    journal.start(Step::Verify).unwrap();
    journal
        .fail(
            Step::Verify,
            &format!("mysql -uroot -p{secret} exited 1: Access denied"),
        )
        .unwrap();
    journal
        .begin_rollback(&format!("verify failed: -p{secret}"))
        .unwrap();
    journal
        .warn(&format!("MYSQL_ROOT_PASSWORD={secret}"))
        .unwrap();
    journal.start(Step::RollbackDown).unwrap();
    journal
        .finish(Step::RollbackDown, Some(&format!("detail {secret}")))
        .unwrap();

    let text = fs::read_to_string(journal.path()).unwrap();
    assert!(!text.contains("S3cret"), "a secret was written:\n{text}");
    let run = journal.run();
    assert_eq!(run.command, "xzup apply --tier ultra  # ********");
    assert_eq!(
        run.step(Step::Verify).unwrap().error.as_deref(),
        Some("mysql -uroot -p******** exited 1: Access denied")
    );
    assert_eq!(run.warnings, ["MYSQL_ROOT_PASSWORD=********"]);
    assert_eq!(
        run.rollback_reason.as_deref(),
        Some("verify failed: -p********")
    );
}

#[test]
fn every_field_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".xzup");
    fs::write(dir.path().join("docker-compose.yml"), "services: {}\n").unwrap();
    let previous = ComposeFileRef::of_text(
        dir.path(),
        &dir.path().join("docker-compose.yml"),
        "services: {}\n",
    );
    assert_eq!(previous.path, PathBuf::from("docker-compose.yml"));
    let mut m = meta(RunKind::Apply, "ultra");
    m.only = vec![crate::roles::Role::Db];
    m.previous_compose = Some(previous);
    m.settings.strict = true;
    m.settings.restore_data = RestoreData::Always;
    m.settings.backup.include = vec![PathBuf::from("models")];
    m.new_compose = Some(ComposeFileRef::of_text(
        dir.path(),
        Path::new("docker-compose-ultra.yml"),
        "services: {}\n",
    ));
    let mut journal = Journal::create(&state, m).unwrap();
    journal.set_project("xiaozhi").unwrap();
    journal.set_compose_flavour("v1").unwrap();
    journal
        .set_images_before(BTreeMap::from([(
            "xiaozhi-esp32-server-db".to_string(),
            "sha256:abc".to_string(),
        )]))
        .unwrap();
    journal
        .set_backup(BackupRef {
            path: PathBuf::from("backups/backup-1.tar.gz"),
            size: 1234,
            sha256: Some(sha256_hex(b"x")),
            verified: true,
        })
        .unwrap();
    journal
        .set_undone_by("20261126-080000-rollback-low")
        .unwrap();
    complete(&mut journal, &[Step::Preflight]);
    journal.set_outcome(Outcome::Succeeded).unwrap();
    let back = Journal::load(journal.path()).unwrap();
    assert_eq!(back.run(), journal.run());
    assert_eq!(
        back.run().new_compose.as_ref().unwrap().sha256,
        sha256_hex(b"services: {}\n")
    );
}

#[test]
fn run_ids_sort_by_time_and_stay_unique() {
    let t = at("2026-11-25T19:30:00Z");
    assert_eq!(
        runs::new_run_id(&t, RunKind::Apply, "ultra"),
        "20261125-193000-apply-ultra"
    );
    assert_eq!(
        runs::new_run_id(&t, RunKind::Rollback, "My Tier/2"),
        "20261125-193000-rollback-my-tier-2"
    );
    assert_eq!(
        runs::new_run_id(&t, RunKind::Apply, ""),
        "20261125-193000-apply"
    );

    let dir = tempfile::tempdir().unwrap();
    let (a, _) = runs::create_run_dir(dir.path(), &t, RunKind::Apply, "ultra").unwrap();
    let (b, _) = runs::create_run_dir(dir.path(), &t, RunKind::Apply, "ultra").unwrap();
    assert_eq!(a, "20261125-193000-apply-ultra");
    assert_eq!(b, "20261125-193000-apply-ultra-2");
}

/// A journal created now, then dated `started_at` on disk.
fn dated(state: &Path, kind: RunKind, to: &str, started_at: &str, outcome: Outcome) -> String {
    let mut journal = Journal::create(state, meta(kind, to)).unwrap();
    journal.run.started_at = at(started_at);
    journal.set_outcome(outcome).unwrap();
    journal.id().to_string()
}

#[test]
fn list_is_newest_first_and_finds_the_unfinished_run() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".xzup");
    assert!(list(&state).unwrap().runs.is_empty(), "no .xzup at all");
    assert!(unfinished(&state).unwrap().is_none());

    let middle = dated(
        &state,
        RunKind::Apply,
        "high",
        "2026-11-25T10:00:00Z",
        Outcome::InProgress,
    );
    let old = dated(
        &state,
        RunKind::Apply,
        "ultra",
        "2026-11-24T10:00:00Z",
        Outcome::Succeeded,
    );
    let new = dated(
        &state,
        RunKind::Rollback,
        "low",
        "2026-11-26T10:00:00Z",
        Outcome::Succeeded,
    );
    // A run dir whose process died before its first write: passed over.
    fs::create_dir(state.join("runs/20261127-000000-apply-high")).unwrap();

    let listing = list(&state).unwrap();
    let ids: Vec<&str> = listing.runs.iter().map(|j| j.id()).collect();
    assert_eq!(ids, [new.as_str(), middle.as_str(), old.as_str()]);
    assert!(listing.unreadable.is_empty());
    assert_eq!(unfinished(&state).unwrap().unwrap().id(), middle);
    assert_eq!(find(&state, &old).unwrap().run().tier_to, "ultra");
}

#[test]
fn the_newest_run_whose_rollback_failed_is_unfinished() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".xzup");
    let older = dated(
        &state,
        RunKind::Apply,
        "high",
        "2026-11-24T10:00:00Z",
        Outcome::RollbackFailed,
    );
    let newer = dated(
        &state,
        RunKind::Apply,
        "ultra",
        "2026-11-25T10:00:00Z",
        Outcome::Succeeded,
    );
    // Settled by a later run: not unfinished.
    assert!(unfinished(&state).unwrap().is_none(), "{older} {newer}");
    let newest = dated(
        &state,
        RunKind::Apply,
        "low",
        "2026-11-26T10:00:00Z",
        Outcome::RollbackFailed,
    );
    assert_eq!(unfinished(&state).unwrap().unwrap().id(), newest);
}

#[test]
fn a_corrupt_journal_is_named_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".xzup");
    let good = dated(
        &state,
        RunKind::Apply,
        "high",
        "2026-11-25T10:00:00Z",
        Outcome::Succeeded,
    );
    let bad_dir = state.join("runs/20261126-000000-apply-ultra");
    fs::create_dir(&bad_dir).unwrap();
    let bad = bad_dir.join("journal.json");
    fs::write(&bad, "{\"schema\": 1, \"id\": ").unwrap();

    let err = Journal::load(&bad).unwrap_err();
    assert!(matches!(err, JournalError::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("the journal `{}` is damaged: ", bad.display())),
        "{err}"
    );
    assert_eq!(
        err.hint().unwrap(),
        format!(
            "xzup writes journals atomically, so something else changed this file; look at it, and if that run no longer matters move its directory out of the way: `mv {} /tmp/`",
            bad_dir.display()
        )
    );

    // The listing still shows the good run and names the bad one.
    let listing = list(&state).unwrap();
    assert_eq!(listing.runs.len(), 1);
    assert_eq!(listing.runs[0].id(), good);
    assert_eq!(listing.unreadable.len(), 1);
    // Whether a run is unfinished cannot be known: refuse rather than guess.
    assert!(matches!(
        unfinished(&state).unwrap_err(),
        JournalError::Corrupt { .. }
    ));

    // Valid JSON that is not a journal is damage too.
    fs::write(&bad, "{\"schema\": 1}").unwrap();
    assert!(matches!(
        Journal::load(&bad).unwrap_err(),
        JournalError::Corrupt { .. }
    ));
}

#[test]
fn a_newer_journal_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.json");
    fs::write(&path, "{\"schema\": 99, \"whatever\": true}").unwrap();
    let err = Journal::load(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the journal `{}` has format version 99; this xzup reads up to version 3",
            path.display()
        )
    );
}

#[test]
fn find_refuses_ids_that_are_not_runs() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".xzup");
    for id in ["", "..", "../x", "20261125-193000-apply-ultra"] {
        let err = find(&state, id).unwrap_err();
        assert!(
            matches!(err, JournalError::UnknownRun { .. }),
            "{id}: {err:?}"
        );
    }
    let err = find(&state, "nope").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("no run `nope` in `{}`", state.join("runs").display())
    );
    assert_eq!(
        err.hint().unwrap(),
        "`xzup history` lists the runs of this deployment"
    );
}

#[test]
fn step_times_are_recorded() {
    let (_dir, mut journal) = scratch(meta(RunKind::Apply, "high"));
    let before = time::now();
    journal.start(Step::Down).unwrap();
    journal.finish(Step::Down, None).unwrap();
    let record = journal.run().step(Step::Down).unwrap();
    assert!(record.started_at >= before);
    let finished = record.finished_at.unwrap();
    assert!(finished >= record.started_at && finished - record.started_at < Duration::seconds(5));
    assert_eq!(
        record.duration_ms,
        Some(time::millis_between(&record.started_at, &finished))
    );
}

#[test]
fn a_precopy_run_is_written_as_version_2_and_a_direct_one_as_version_1() {
    let (_dir, direct) = scratch(meta(RunKind::Apply, "high"));
    assert_eq!(direct.run().schema, 1);
    assert_eq!(direct.run().sequence(), &Step::APPLY);
    let mut precopy = meta(RunKind::Apply, "high");
    precopy.settings.backup.mode = BackupMode::Precopy;
    let (_dir2, journal) = scratch(precopy);
    assert_eq!(journal.run().schema, 2);
    assert_eq!(journal.run().sequence(), &Step::APPLY_PRECOPY);
    // Read back: the mode, and so the sequence, is the journal's.
    let loaded = Journal::load(journal.path()).unwrap();
    assert_eq!(loaded.run().settings.backup.mode, BackupMode::Precopy);
    assert_eq!(loaded.next_step(), Some(Step::Preflight));

    // A version-1 journal without the field reads as a direct run.
    let text = fs::read_to_string(direct.path()).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["settings"]["backup"]
        .as_object_mut()
        .unwrap()
        .retain(|k, _| k != "mode" && k != "mode_explicit");
    fs::write(direct.path(), serde_json::to_vec(&value).unwrap()).unwrap();
    let old = Journal::load(direct.path()).unwrap();
    assert_eq!(old.run().settings.backup.mode, BackupMode::Direct);
    assert_eq!(old.run().sequence(), &Step::APPLY);
}

#[test]
fn a_live_run_is_written_as_version_3_with_its_own_steps_and_no_outage() {
    let mut live = meta(RunKind::Apply, "high");
    live.settings.strategy = Strategy::Live;
    let (_dir, mut journal) = scratch(live);
    assert_eq!(journal.run().schema, 3);
    assert_eq!(journal.run().sequence(), &Step::APPLY_LIVE);
    assert_eq!(journal.run().downtime_ms(), None, "nothing set yet");
    let before = BTreeMap::from([(
        "db".to_string(),
        LiveValues {
            memory: 768 << 20,
            ..LiveValues::default()
        },
    )]);
    journal.set_live_before(before.clone()).unwrap();
    for step in [
        Step::Preflight,
        Step::Backup,
        Step::WriteCompose,
        Step::LiveUpdate,
    ] {
        journal.start(step).unwrap();
        journal.finish(step, None).unwrap();
    }
    assert_eq!(journal.run().downtime_ms(), Some(0));
    journal.begin_rollback("verify failed").unwrap();
    assert_eq!(journal.run().sequence(), &Step::ROLLBACK_LIVE);
    assert_eq!(journal.next_step(), Some(Step::RollbackLive));
    let loaded = Journal::load(journal.path()).unwrap();
    assert_eq!(loaded.run().settings.strategy, Strategy::Live);
    assert_eq!(loaded.run().live_before, before);
    assert_eq!(loaded.run().downtime_ms, Some(0));

    // A journal without the field is a restart run.
    let text = fs::read_to_string(journal.path()).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["settings"]
        .as_object_mut()
        .unwrap()
        .remove("strategy");
    fs::write(journal.path(), serde_json::to_vec(&value).unwrap()).unwrap();
    let old = Journal::load(journal.path()).unwrap();
    assert_eq!(old.run().settings.strategy, Strategy::Restart);
}
