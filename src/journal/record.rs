//! What a journal holds: the run as recorded in `journal.json`, and its parts.
//!
//! Every type here is plain data (serde); the rules for changing it live in
//! [`super::Journal`]. Nothing here may hold a secret: no environment values, no argv,
//! only messages that went through the journal's redaction.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::time::{millis_between, rfc3339, rfc3339_opt};
use crate::roles::{Role, RoleMap};

/// The journal format this xzup writes. A journal with a higher number was written by a
/// newer xzup, and is refused rather than misread.
/// A run written with version 2 uses the pre-copy sequence ([`BackupMode::Precopy`]):
/// an older xzup must refuse it rather than resume it with the direct steps. A direct run
/// is still written as version 1, which every xzup reads.
/// A run written with version 3 uses the live sequence ([`Strategy::Live`]): its steps
/// and its record of the values it changed (`live_before`) mean nothing to an older xzup.
pub const SCHEMA_VERSION: u32 = 3;

/// The version a run with `settings` is written with: a live run is 3, else by its
/// backup mode (see [`SCHEMA_VERSION`]).
pub fn schema_for_settings(settings: &RunSettings) -> u32 {
    match settings.strategy {
        Strategy::Live => 3,
        Strategy::Restart => schema_for(settings.backup.mode),
    }
}

/// The version a run of `mode` is written with (see [`SCHEMA_VERSION`]).
pub fn schema_for(mode: BackupMode) -> u32 {
    match mode {
        BackupMode::Direct => 1,
        BackupMode::Precopy => 2,
    }
}

/// What a run does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunKind {
    /// `xzup apply`: from one tier to another.
    #[default]
    Apply,
    /// `xzup rollback RUN`: back to the stack as it was before an earlier run.
    Rollback,
}

impl RunKind {
    pub fn name(self) -> &'static str {
        match self {
            RunKind::Apply => "apply",
            RunKind::Rollback => "rollback",
        }
    }

    /// The steps a run of this kind takes, in order.
    pub fn steps(self) -> &'static [Step] {
        match self {
            RunKind::Apply => &Step::APPLY,
            RunKind::Rollback => &Step::ROLLBACK,
        }
    }

    /// The steps a run of this kind takes with backup `mode`, in order.
    pub fn steps_with(self, mode: BackupMode) -> &'static [Step] {
        match (self, mode) {
            (RunKind::Apply, BackupMode::Precopy) => &Step::APPLY_PRECOPY,
            _ => self.steps(),
        }
    }

    /// The steps a run of this kind takes with `settings` (strategy, backup mode).
    pub fn steps_for(self, settings: &RunSettings) -> &'static [Step] {
        match (self, settings.strategy) {
            (RunKind::Apply, Strategy::Live) => &Step::APPLY_LIVE,
            (RunKind::Rollback, Strategy::Live) => &Step::ROLLBACK_LIVE,
            _ => self.steps_with(settings.backup.mode),
        }
    }
}

impl fmt::Display for RunKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A step of a run. Every step is idempotent, so a step that was started and not done
/// (the process died during it) is simply run again on resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Preflight,
    /// Pre-copy: the data paths copied into the run's staging dir while the stack runs.
    Precopy,
    Down,
    /// Pre-copy: the staging copy made exactly the stopped state.
    Delta,
    Backup,
    WriteCompose,
    Up,
    /// Pre-copy: the verified archive made from the staging copy (the new stack runs).
    Archive,
    Verify,
    Commit,
    /// Down the new stack (automatic rollback) or the current one (manual rollback).
    RollbackDown,
    /// Put the data back from the run's backup (what is in place is quarantined first).
    RollbackRestoreData,
    /// Make the previous compose file the active one again.
    RollbackActivate,
    /// `up -d` with the previous compose file.
    RollbackUp,
    /// Check the old stack runs and is healthy.
    RollbackCheck,
    /// Live: the new limits and MySQL/Redis settings set on the running containers.
    LiveUpdate,
    /// Live: the values recorded before `live-update` set back on the running containers.
    RollbackLive,
}

impl Step {
    /// The steps of an upgrade, in order.
    pub const APPLY: [Step; 7] = [
        Step::Preflight,
        Step::Down,
        Step::Backup,
        Step::WriteCompose,
        Step::Up,
        Step::Verify,
        Step::Commit,
    ];

    /// The steps of an upgrade with `--backup-mode precopy`, in order. `backup` stays in
    /// it for a run that falls back to a direct backup (then `delta` and `archive` are
    /// skipped; otherwise `backup` is).
    pub const APPLY_PRECOPY: [Step; 10] = [
        Step::Preflight,
        Step::Precopy,
        Step::Down,
        Step::Delta,
        Step::Backup,
        Step::WriteCompose,
        Step::Up,
        Step::Archive,
        Step::Verify,
        Step::Commit,
    ];

    /// The steps of a live upgrade (`--strategy live`), in order: nothing stops. `backup`
    /// is skipped unless `--backup` asked for one.
    pub const APPLY_LIVE: [Step; 6] = [
        Step::Preflight,
        Step::Backup,
        Step::WriteCompose,
        Step::LiveUpdate,
        Step::Verify,
        Step::Commit,
    ];

    /// The steps of a live run's rollback, automatic or manual: the old values set back
    /// on the running containers, the old file active again, the stack checked.
    pub const ROLLBACK_LIVE: [Step; 3] = [
        Step::RollbackLive,
        Step::RollbackActivate,
        Step::RollbackCheck,
    ];

    /// The steps of a rollback, automatic or manual, in order.
    pub const ROLLBACK: [Step; 5] = [
        Step::RollbackDown,
        Step::RollbackRestoreData,
        Step::RollbackActivate,
        Step::RollbackUp,
        Step::RollbackCheck,
    ];

    /// The name in journals, JSON and on screen: `write-compose`, `rollback-up`.
    pub fn name(self) -> &'static str {
        match self {
            Step::Preflight => "preflight",
            Step::Precopy => "precopy",
            Step::Down => "down",
            Step::Delta => "delta",
            Step::Archive => "archive",
            Step::Backup => "backup",
            Step::WriteCompose => "write-compose",
            Step::Up => "up",
            Step::Verify => "verify",
            Step::Commit => "commit",
            Step::RollbackDown => "rollback-down",
            Step::RollbackRestoreData => "rollback-restore-data",
            Step::RollbackActivate => "rollback-activate",
            Step::RollbackUp => "rollback-up",
            Step::RollbackCheck => "rollback-check",
            Step::LiveUpdate => "live-update",
            Step::RollbackLive => "rollback-live",
        }
    }

    pub fn is_rollback(self) -> bool {
        Step::ROLLBACK.contains(&self) || Step::ROLLBACK_LIVE.contains(&self)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    /// Written before the step runs; still there after a crash means "redo it".
    Started,
    Done,
    Failed,
    /// Deliberately not run (e.g. no data restore with `--restore-data never`).
    Skipped,
}

impl StepStatus {
    /// Done or skipped: resume does not run it again.
    pub fn is_complete(self) -> bool {
        matches!(self, StepStatus::Done | StepStatus::Skipped)
    }
}

/// One step as it ran (its last attempt, when resume ran it again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: Step,
    pub status: StepStatus,
    /// How many times the step was started (more than 1 after a resume redid it).
    pub attempts: u32,
    #[serde(with = "rfc3339")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "rfc3339_opt", default)]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// What the step did, for people (redacted).
    #[serde(default)]
    pub detail: Option<String>,
    /// Why it failed (redacted).
    #[serde(default)]
    pub error: Option<String>,
    /// For a step that brings a stack up: how long into it every service was first
    /// running and healthy (the outage's end; the step goes on to check they settle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_ms: Option<u64>,
}

impl StepRecord {
    /// When the stack this step brought up was first ready: `ready_ms` after its start,
    /// else (a journal from before xzup recorded it) when the step was done.
    pub fn ready_at(&self) -> Option<DateTime<Utc>> {
        if self.status != StepStatus::Done {
            return None;
        }
        match self.ready_ms {
            Some(ms) => Some(self.started_at + chrono::Duration::milliseconds(ms as i64)),
            None => self.finished_at,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Running, or interrupted: `xzup resume` or `xzup rollback` finishes it.
    #[default]
    InProgress,
    Succeeded,
    /// The upgrade failed; the old stack is back and healthy (exit 3).
    RolledBack,
    /// The upgrade failed and so did the rollback (exit 4).
    RollbackFailed,
    /// Failed before anything changed (e.g. at preflight).
    Failed,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::InProgress => "in progress",
            Outcome::Succeeded => "succeeded",
            Outcome::RolledBack => "rolled back",
            Outcome::RollbackFailed => "rollback failed",
            Outcome::Failed => "failed",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A compose file and the sha256 of its bytes, so a resume or a rollback can tell that
/// the file it is about to use is the one the run recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComposeFileRef {
    /// Relative to the deployment dir (absolute when the file lies outside it).
    pub path: PathBuf,
    pub sha256: String,
}

impl ComposeFileRef {
    /// A file about to be written with `text` (the rendered compose file).
    pub fn of_text(deployment_dir: &Path, path: &Path, text: &str) -> ComposeFileRef {
        ComposeFileRef {
            path: relative_to(deployment_dir, path),
            sha256: sha256_hex(text.as_bytes()),
        }
    }
}

/// The run's backup archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRef {
    /// Relative to the deployment dir when it lies inside it, else absolute.
    pub path: PathBuf,
    pub size: u64,
    #[serde(default)]
    pub sha256: Option<String>,
    /// Read back against its manifest after writing.
    pub verified: bool,
}

/// `--restore-data`: whether a rollback puts the data back from the run's backup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestoreData {
    /// When the image of a data-bearing service changed.
    #[default]
    Auto,
    Always,
    Never,
}

impl RestoreData {
    /// The name on the command line: `auto`, `always`, `never`.
    pub fn name(self) -> &'static str {
        match self {
            RestoreData::Auto => "auto",
            RestoreData::Always => "always",
            RestoreData::Never => "never",
        }
    }
}

/// `--backup-mode`: when the backup is taken, and so which sequence the run walks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackupMode {
    /// The archive is written while the stack is down (the outage grows with the data).
    #[default]
    Direct,
    /// The data is copied while the stack runs, brought to the stopped state after
    /// `down`, and archived from that copy once the new stack is up.
    Precopy,
}

impl BackupMode {
    pub fn name(self) -> &'static str {
        match self {
            BackupMode::Direct => "direct",
            BackupMode::Precopy => "precopy",
        }
    }
}

/// `--strategy`: how the new tier reaches the running stack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Stop the stack, back up, start it with the new file (the plan's procedure).
    #[default]
    Restart,
    /// Set the new limits and settings on the running containers: no restart.
    Live,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Restart => "restart",
            Strategy::Live => "live",
        }
    }
}

/// Where and how the run writes its backup (resume redoes an interrupted backup).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackupSettings {
    /// The archive directory (relative to the deployment dir, or absolute).
    pub dir: PathBuf,
    pub level: u32,
    pub include: Vec<PathBuf>,
    pub verify: bool,
    /// The sequence the run walks (resume keeps it: no option changes it).
    pub mode: BackupMode,
    /// `--backup-mode` was given: a pre-copy that cannot be done refuses instead of
    /// falling back to a direct backup.
    pub mode_explicit: bool,
    /// A live run takes a backup only when asked (`--backup`): it touches no data.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub live_backup: bool,
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            dir: PathBuf::from(crate::backup::DEFAULT_DIR),
            level: crate::backup::DEFAULT_LEVEL,
            include: Vec::new(),
            verify: true,
            mode: BackupMode::Direct,
            mode_explicit: false,
            live_backup: false,
        }
    }
}

/// The options of the run that `xzup resume` needs to finish it the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSettings {
    pub wait_timeout_secs: u64,
    pub verify_window_secs: u64,
    pub strict: bool,
    pub restore_data: RestoreData,
    pub force: bool,
    pub pull: bool,
    pub backup: BackupSettings,
    /// The sequence the run walks: restart (the default) or live. Resume and rollback
    /// keep it; a journal without it is a restart run.
    pub strategy: Strategy,
    /// `--strategy auto` chose the restart path: why (said at the start, kept for
    /// history). `None` when the operator chose, or live was possible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy_note: Option<String>,
}

impl Default for RunSettings {
    /// The command line's defaults.
    fn default() -> Self {
        RunSettings {
            wait_timeout_secs: 300,
            verify_window_secs: 30,
            strict: false,
            restore_data: RestoreData::Auto,
            force: false,
            pull: false,
            backup: BackupSettings::default(),
            strategy: Strategy::Restart,
            strategy_note: None,
        }
    }
}

/// What is known about a run when it starts; [`super::Journal::create`] takes it.
#[derive(Debug, Clone, Default)]
pub struct RunMeta {
    pub kind: RunKind,
    /// What was asked, for people: `xzup apply --tier ultra --only db` (built from the
    /// resolved settings, never copied from argv).
    pub command: String,
    /// The tier before the run (a tier name, or `custom`).
    pub tier_from: String,
    pub tier_to: String,
    /// `--only`: the roles this run changes (empty: all).
    pub only: Vec<Role>,
    /// The service playing each role in this deployment (absent roles: none).
    pub roles: Option<RoleMap>,
    /// For a manual rollback: the run it undoes.
    pub rolls_back: Option<String>,
    pub project: Option<String>,
    /// `v1` (docker-compose) or `v2` (docker compose), as the driver names it.
    pub compose_flavour: Option<String>,
    /// The compose file active before the run.
    pub previous_compose: Option<ComposeFileRef>,
    /// The compose file the run makes active.
    pub new_compose: Option<ComposeFileRef>,
    /// The tiers file the run's tiers come from (absolute); `None`: the built-in catalog.
    pub tiers_file: Option<PathBuf>,
    pub settings: RunSettings,
    /// Values never to be written (passwords from the compose `environment:`): every
    /// message stored is redacted against them. Not stored themselves.
    pub secrets: Vec<String>,
}

/// A run as its journal records it: the whole of `journal.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub schema: u32,
    pub id: String,
    pub kind: RunKind,
    pub xzup_version: String,
    pub command: String,
    pub tier_from: String,
    pub tier_to: String,
    #[serde(default)]
    pub only: Vec<Role>,
    /// The service playing each role, as the run resolved it when it started: resume and
    /// rollback use it, whatever the compose file or `xzup.toml` say meanwhile. `None` in
    /// a journal written before xzup recorded it (resolved from the run's compose file).
    #[serde(default)]
    pub roles: Option<RoleMap>,
    #[serde(default)]
    pub rolls_back: Option<String>,
    /// A later manual rollback that undid this run.
    #[serde(default)]
    pub undone_by: Option<String>,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub compose_flavour: Option<String>,
    #[serde(default)]
    pub previous_compose: Option<ComposeFileRef>,
    #[serde(default)]
    pub new_compose: Option<ComposeFileRef>,
    /// The tiers file `tier_from` and `tier_to` are named in (absolute); `None`: the
    /// built-in catalog, or a journal written before xzup recorded it. An optional field
    /// an older xzup skips, so the schema version stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers_file: Option<PathBuf>,
    /// Service → image ID of its container before the run (what a rollback returns to,
    /// and how `--restore-data auto` tells that a data-bearing image changed).
    #[serde(default)]
    pub images_before: BTreeMap<String, String>,
    /// Service → the image it ran before the run, kept under a name xzup owns, for each
    /// service whose image the run changes (a version upgrade): what a rollback tags back.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kept_images: BTreeMap<String, KeptImage>,
    #[serde(default)]
    pub backup: Option<BackupRef>,
    #[serde(default)]
    pub settings: RunSettings,
    #[serde(with = "rfc3339")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "rfc3339_opt", default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// In the order they were first started.
    #[serde(default)]
    pub steps: Vec<StepRecord>,
    /// Why an automatic rollback started (redacted); set when it did.
    #[serde(default)]
    pub rollback_reason: Option<String>,
    #[serde(default)]
    pub outcome: Outcome,
    /// The time the stack was down (see [`Run::downtime_ms`]), kept up to date.
    #[serde(default)]
    pub downtime_ms: Option<u64>,
    /// A pre-copy run that backs up directly after all, and why (said at `precopy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precopy_fallback: Option<String>,
    /// The upgrade's outage split into its parts (see [`Run::outage_parts`]), kept up to
    /// date; empty until the new stack is up.
    #[serde(default)]
    pub outage: Vec<OutagePart>,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// What the doctor measured before the run (its last recorded window) and during
    /// verify: "did the upgrade help?". Optional, so the schema version stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sizing: Option<SizingChange>,
    /// A live run: each service's values before `live-update` changed them (what its
    /// rollback sets back), recorded at preflight.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub live_before: BTreeMap<String, LiveValues>,
}

/// One container's values as a live run found them: limits from `docker inspect`, the
/// MySQL/Redis variables as the server reported them (name → value), and what must not
/// change while the run goes on (its ID and start time).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LiveValues {
    pub container: String,
    pub container_id: String,
    pub started_at: String,
    pub memory: u64,
    /// `HostConfig.MemorySwap` (-1 unlimited, 0 unset).
    pub memory_swap: i64,
    pub nano_cpus: i64,
    pub memory_reservation: u64,
    /// MySQL global variables (`max_connections` …), as `SHOW VARIABLES` prints them.
    pub mysql: BTreeMap<String, String>,
    /// Redis parameters (`maxmemory` …), as `CONFIG GET` prints them.
    pub redis: BTreeMap<String, String>,
}

/// The stack's use before and after a run (`xzup history` shows them side by side).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SizingChange {
    /// `None` when nothing was recorded before the run (`xzup doctor --record`).
    pub before: Option<SizingSnapshot>,
    pub after: Option<SizingSnapshot>,
}

/// One window's figures, in absolute terms so that they compare across tiers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SizingSnapshot {
    /// Seconds since the epoch when the window began.
    pub at: u64,
    pub samples: usize,
    /// Per role: p95 of the cores busy, and the peak memory in bytes.
    pub cpu_p95: BTreeMap<Role, f64>,
    pub memory_peak: BTreeMap<Role, u64>,
    pub hit_rate: Option<f64>,
    pub evicted_keys: Option<u64>,
    /// Per role, the HTTP round-trip (ms) to its endpoint.
    #[serde(default)]
    pub round_trips_ms: BTreeMap<Role, f64>,
}

/// A part of the outage: a step, and how much of the outage it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutagePart {
    pub step: Step,
    pub ms: u64,
}

/// `down 1.0s, backup 5.3s, up 11.2s`.
pub fn describe_outage(parts: &[OutagePart]) -> String {
    parts
        .iter()
        .map(|p| format!("{} {:.1}s", p.step, p.ms as f64 / 1000.0))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Run {
    pub fn step(&self, step: Step) -> Option<&StepRecord> {
        self.steps.iter().find(|r| r.step == step)
    }

    pub fn step_status(&self, step: Step) -> Option<StepStatus> {
        self.step(step).map(|r| r.status)
    }

    /// The steps this run is on now: its kind's steps, or the rollback steps once an
    /// automatic rollback began.
    pub fn sequence(&self) -> &'static [Step] {
        if self.rollback_reason.is_some() {
            RunKind::Rollback.steps_for(&self.settings)
        } else {
            self.kind.steps_for(&self.settings)
        }
    }

    /// Where a resume starts: the first step of [`Run::sequence`] that is neither done
    /// nor skipped (a step started and not done is redone). `None`: all are complete.
    pub fn next_step(&self) -> Option<Step> {
        self.sequence()
            .iter()
            .copied()
            .find(|&s| !self.step_status(s).is_some_and(StepStatus::is_complete))
    }

    /// The compose file a rollback of this run returns to: the one active before an
    /// upgrade; for a manual rollback, the one it makes active again.
    pub fn rollback_target(&self) -> Option<&ComposeFileRef> {
        match self.kind {
            RunKind::Apply => self.previous_compose.as_ref(),
            RunKind::Rollback => self.new_compose.as_ref(),
        }
    }

    /// The step that failed, with its error, if one did.
    pub fn failed_step(&self) -> Option<&StepRecord> {
        self.steps.iter().find(|r| r.status == StepStatus::Failed)
    }

    /// How long the stack was down: from the start of `down` to the moment `up` saw every
    /// service ready ([`StepRecord::ready_at`]), and from the start of `rollback-down` to
    /// `rollback-check`'s. A failed
    /// `up` keeps the stack down until the rollback brings the old one back. `None` while
    /// the stack is not (known to be) back, or when it never went down.
    pub fn downtime_ms(&self) -> Option<u64> {
        // A live run never stops the stack: no outage, once its change (or the way back)
        // is in place.
        if self.settings.strategy == Strategy::Live {
            let changed = [Step::LiveUpdate, Step::RollbackLive]
                .into_iter()
                .any(|s| self.step_status(s).is_some_and(StepStatus::is_complete));
            return changed.then_some(0);
        }
        let mut total = 0;
        let mut down_since: Option<DateTime<Utc>> = None;
        let mut went_down = false;
        for step in [
            Step::Down,
            Step::Up,
            Step::RollbackDown,
            Step::RollbackCheck,
        ] {
            let Some(record) = self.step(step) else {
                continue;
            };
            match step {
                Step::Down | Step::RollbackDown => {
                    went_down = true;
                    down_since.get_or_insert(record.started_at);
                }
                _ => {
                    if let (Some(since), Some(back)) = (down_since, record.ready_at()) {
                        total += millis_between(&since, &back);
                        down_since = None;
                    }
                }
            }
        }
        (went_down && down_since.is_none()).then_some(total)
    }

    /// The upgrade's outage split into its parts: each step from the start of `down` to
    /// the moment `up` saw the new stack ready, with the part of it inside the outage
    /// (all of it, and `up` until ready). `None` until `up` is done.
    pub fn outage_parts(&self) -> Option<Vec<(Step, u64)>> {
        let down = self.step(Step::Down)?;
        let up = self.step(Step::Up)?;
        let end = up.ready_at()?;
        let mut parts = Vec::new();
        for record in &self.steps {
            if record.step.is_rollback()
                || record.status == StepStatus::Skipped
                || record.started_at < down.started_at
                || record.started_at > end
            {
                continue;
            }
            let stop = record.finished_at.map_or(end, |f| f.min(end));
            parts.push((record.step, millis_between(&record.started_at, &stop)));
        }
        Some(parts)
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `path` relative to `dir` when it lies inside it; otherwise as given.
pub fn relative_to(dir: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(dir).unwrap_or(path).to_path_buf()
}

/// An image a run replaces, kept for the way back: `docker tag ID REPO:xzup-<run>` before
/// anything stops, so that neither a pull over its tag nor `docker image prune` removes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptImage {
    /// The reference the old file names (`…:web_latest`): tagged back on rollback.
    pub reference: String,
    /// The exact image ID the container ran.
    pub id: String,
    /// The name xzup gave it (`<repo>:xzup-<run-id>`).
    pub kept_as: String,
}
