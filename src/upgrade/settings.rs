//! Run options given again to `xzup resume` (or to `xzup rollback` of an unfinished run):
//! each replaces the run's own for the rest of the run — an operator resuming after a
//! timeout expects a longer `--wait-timeout` to apply — and the journal says so in a
//! warning, which `xzup history` shows.

use crate::journal::{Journal, JournalError, RestoreData, RunSettings};

/// Options given to the command; `None`: keep the run's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOverrides {
    pub wait_timeout_secs: Option<u64>,
    pub verify_window_secs: Option<u64>,
    pub strict: Option<bool>,
    pub restore_data: Option<RestoreData>,
}

impl RunOverrides {
    /// `settings` with every given option in place of its own.
    pub fn applied_to(&self, settings: &RunSettings) -> RunSettings {
        RunSettings {
            wait_timeout_secs: self.wait_timeout_secs.unwrap_or(settings.wait_timeout_secs),
            verify_window_secs: self
                .verify_window_secs
                .unwrap_or(settings.verify_window_secs),
            strict: self.strict.unwrap_or(settings.strict),
            restore_data: self.restore_data.unwrap_or(settings.restore_data),
            ..settings.clone()
        }
    }

    /// Writes the options that differ from the run's own into its journal, with a warning
    /// for each (`xzup resume changed --wait-timeout from 300 to 900 …`); returns the
    /// warnings, to show them.
    pub(super) fn record(
        &self,
        journal: &mut Journal,
        command: &str,
    ) -> Result<Vec<String>, JournalError> {
        let before = journal.run().settings.clone();
        let after = self.applied_to(&before);
        let changes = [
            (
                "--wait-timeout",
                before.wait_timeout_secs.to_string(),
                after.wait_timeout_secs.to_string(),
            ),
            (
                "--verify-window",
                before.verify_window_secs.to_string(),
                after.verify_window_secs.to_string(),
            ),
            (
                "--strict",
                before.strict.to_string(),
                after.strict.to_string(),
            ),
            (
                "--restore-data",
                before.restore_data.name().to_string(),
                after.restore_data.name().to_string(),
            ),
        ];
        let notes: Vec<String> = changes
            .into_iter()
            .filter(|(_, old, new)| old != new)
            .map(|(option, old, new)| {
                format!("{command} changed {option} from {old} to {new} for the rest of the run")
            })
            .collect();
        if notes.is_empty() {
            return Ok(notes);
        }
        journal.set_settings(after)?;
        for note in &notes {
            journal.warn(note)?;
        }
        Ok(notes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{RunKind, RunMeta};

    fn journal(dir: &std::path::Path) -> Journal {
        let meta = RunMeta {
            kind: RunKind::Apply,
            tier_from: "seed".into(),
            tier_to: "grow".into(),
            ..RunMeta::default()
        };
        Journal::create(dir, meta).unwrap()
    }

    #[test]
    fn options_given_again_replace_the_runs_own_and_are_noted() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = journal(dir.path());
        let overrides = RunOverrides {
            wait_timeout_secs: Some(900),
            // The run's own value: no change, no note.
            verify_window_secs: Some(RunSettings::default().verify_window_secs),
            strict: Some(true),
            restore_data: Some(RestoreData::Never),
        };
        let notes = overrides.record(&mut journal, "xzup resume").unwrap();
        assert_eq!(
            notes,
            [
                "xzup resume changed --wait-timeout from 300 to 900 for the rest of the run",
                "xzup resume changed --strict from false to true for the rest of the run",
                "xzup resume changed --restore-data from auto to never for the rest of the run",
            ]
        );
        let back = Journal::load(journal.path()).unwrap();
        let settings = &back.run().settings;
        assert_eq!(settings.wait_timeout_secs, 900);
        assert_eq!(settings.verify_window_secs, 30);
        assert!(settings.strict);
        assert_eq!(settings.restore_data, RestoreData::Never);
        assert_eq!(back.run().warnings, notes, "history shows the change");
    }

    #[test]
    fn nothing_given_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = journal(dir.path());
        let before = std::fs::read(journal.path()).unwrap();
        let notes = RunOverrides::default()
            .record(&mut journal, "xzup resume")
            .unwrap();
        assert!(notes.is_empty());
        assert_eq!(std::fs::read(journal.path()).unwrap(), before);
    }
}
