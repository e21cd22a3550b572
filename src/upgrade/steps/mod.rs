//! The steps of a run, one file each, and the sequences they make up.
//!
//! Every step is a unit struct implementing [`Step`](super::step::Step): its journal name, its work, and what
//! a failure of it means. A new step is a file here, its name in [`journal::Step`], and a
//! line in a sequence below; a new strategy is a new [`Sequence`]. Steps share only
//! [`stack`] (stopped? healthy?) and [`targets`] (the files a rollback moves between).
//!
//! [`journal::Step`]: crate::journal::Step

mod archive;
mod backup;
mod commit;
mod delta;
mod down;
mod images;
mod live_backup;
mod live_preflight;
mod live_update;
mod live_verify;
mod precopy;
mod preflight;
mod rollback_activate;
mod rollback_check;
mod rollback_down;
mod rollback_live;
mod rollback_restore_data;
mod rollback_up;
mod stack;
mod targets;
mod up;
mod verify;
mod write_compose;

use crate::journal::{BackupMode, RunSettings, Strategy};

use super::step::Sequence;

/// The sequence a run with `settings` walks: its strategy, then its backup mode (the
/// journal records both).
pub(super) fn for_settings(settings: &RunSettings) -> &'static Sequence<'static> {
    match settings.strategy {
        Strategy::Live => &LIVE,
        Strategy::Restart => sequence(settings.backup.mode),
    }
}

/// The sequence a run with backup `mode` walks (the journal records the mode).
pub(super) fn sequence(mode: BackupMode) -> &'static Sequence<'static> {
    match mode {
        BackupMode::Direct => &STANDARD,
        BackupMode::Precopy => &PRECOPY,
    }
}

/// How xzup upgrades: check, stop, back up, write, start, verify, commit; and the way back.
pub(super) const STANDARD: Sequence<'static> = Sequence {
    apply: &[
        &preflight::Preflight,
        &down::Down,
        &backup::Backup,
        &write_compose::WriteCompose,
        &up::Up,
        &verify::Verify,
        &commit::Commit,
    ],
    rollback: &[
        &rollback_down::RollbackDown,
        &rollback_restore_data::RollbackRestoreData,
        &rollback_activate::RollbackActivate,
        &rollback_up::RollbackUp,
        &rollback_check::RollbackCheck,
    ],
};

/// `--backup-mode precopy`: copy while the stack runs, bring the copy up to date while
/// it is down, archive it once the new stack is up. `backup` is skipped unless the run
/// fell back to a direct backup at `precopy` (then `delta` and `archive` are).
pub(super) const PRECOPY: Sequence<'static> = Sequence {
    apply: &[
        &preflight::Preflight,
        &precopy::Precopy,
        &down::Down,
        &delta::Delta,
        &backup::Backup,
        &write_compose::WriteCompose,
        &up::Up,
        &archive::Archive,
        &verify::Verify,
        &commit::Commit,
    ],
    rollback: STANDARD.rollback,
};

/// `--strategy live`: the new values set on the running containers; nothing stops. The
/// way back is live too: the old values set back, the old file active again.
pub(super) const LIVE: Sequence<'static> = Sequence {
    apply: &[
        &live_preflight::LivePreflight,
        &live_backup::LiveBackup,
        &write_compose::WriteCompose,
        &live_update::LiveUpdate,
        &live_verify::LiveVerify,
        &commit::Commit,
    ],
    rollback: &[
        &rollback_live::RollbackLive,
        &rollback_activate::RollbackActivate,
        &rollback_check::RollbackCheck,
    ],
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal;
    use crate::upgrade::step::Step;

    fn ids(steps: &[&dyn Step]) -> Vec<journal::Step> {
        steps.iter().map(|s| s.id()).collect()
    }

    /// The journal reads where a run stands (`xzup status`) from its own lists of steps:
    /// they must be the order the loop walks.
    #[test]
    fn the_standard_sequence_is_the_journals_order() {
        assert_eq!(ids(STANDARD.apply), journal::Step::APPLY);
        assert_eq!(ids(STANDARD.rollback), journal::Step::ROLLBACK);
        assert_eq!(ids(PRECOPY.apply), journal::Step::APPLY_PRECOPY);
        assert_eq!(ids(PRECOPY.rollback), journal::Step::ROLLBACK);
        assert_eq!(
            ids(sequence(BackupMode::Precopy).apply),
            journal::Step::APPLY_PRECOPY
        );
        assert_eq!(
            ids(sequence(BackupMode::Direct).apply),
            journal::Step::APPLY
        );
        assert_eq!(ids(LIVE.apply), journal::Step::APPLY_LIVE);
        assert_eq!(ids(LIVE.rollback), journal::Step::ROLLBACK_LIVE);
        let live = RunSettings {
            strategy: Strategy::Live,
            ..RunSettings::default()
        };
        assert_eq!(ids(for_settings(&live).apply), journal::Step::APPLY_LIVE);
        assert_eq!(
            ids(for_settings(&RunSettings::default()).apply),
            journal::Step::APPLY
        );
    }

    #[test]
    fn a_live_run_changes_nothing_before_live_update_but_preflight_checks() {
        let quiet: Vec<_> = LIVE
            .apply
            .iter()
            .filter(|s| s.changes_nothing())
            .map(|s| s.id())
            .collect();
        assert_eq!(quiet, [journal::Step::Preflight]);
    }

    #[test]
    fn before_down_only_checks_and_the_pre_copy_which_change_nothing() {
        let quiet: Vec<_> = PRECOPY
            .apply
            .iter()
            .filter(|s| s.changes_nothing())
            .map(|s| s.id())
            .collect();
        assert_eq!(quiet, [journal::Step::Preflight, journal::Step::Precopy]);
    }

    #[test]
    fn only_preflight_changes_nothing() {
        let quiet: Vec<_> = STANDARD
            .apply
            .iter()
            .chain(STANDARD.rollback)
            .filter(|s| s.changes_nothing())
            .map(|s| s.id())
            .collect();
        assert_eq!(quiet, [journal::Step::Preflight]);
    }

    #[test]
    fn each_rollback_step_names_the_state_it_leaves() {
        let states: Vec<_> = STANDARD
            .rollback
            .iter()
            .map(|s| s.state_if_failed())
            .collect();
        assert_eq!(
            states,
            [
                "the new stack may still run",
                "the stack is down and the data was not restored (what stood there is unchanged or kept aside as *.xzup-quarantine-*)",
                "the stack is down",
                "the stack is down",
                "the old stack was started but is not healthy",
            ]
        );
    }
}
