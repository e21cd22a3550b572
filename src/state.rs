//! xzup's state in a deployment: `.xzup/state.json` (0600, in a 0700 dir) remembers the
//! compose file xzup last activated, the tier it set, and the last run.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil;

/// The state directory, relative to the deployment dir.
pub const STATE_DIR: &str = ".xzup";
const STATE_FILE: &str = "state.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The active compose file, relative to the deployment dir.
    pub active_compose: Option<PathBuf>,
    /// The tier that file was rendered for (`custom` for a partial upgrade).
    pub tier: Option<String>,
    /// The tiers file `tier` is named in (absolute); `None`: the built-in catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers_file: Option<PathBuf>,
    /// The last run that changed the deployment.
    pub last_run: Option<String>,
    /// When this state was written (RFC 3339).
    pub updated_at: Option<String>,
}

/// `DIR/.xzup`
pub fn state_dir(deployment_dir: &Path) -> PathBuf {
    deployment_dir.join(STATE_DIR)
}

/// Why the state could not be read. Every command that opens the deployment reads it, so
/// each says which file and that moving it aside is safe.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Not JSON, or not the shape of [`State`].
    #[error("xzup's state file `{}` is damaged: {reason}", path.display())]
    Damaged { path: PathBuf, reason: String },
    /// `.xzup` is there but is not a directory.
    #[error("`{}` is not a directory, but xzup keeps its state (state.json, the lock, the runs' journals) in a directory of that name", path.display())]
    NotADir { path: PathBuf },
    #[error("cannot read xzup's state file `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl StateError {
    /// What to do, and what moving the file aside costs.
    pub fn hint(&self) -> Option<String> {
        match self {
            StateError::Damaged { path, .. } => Some(format!(
                "moving it aside is safe (`mv {0} {0}.damaged`): it only remembers which compose \
                 file xzup last activated and its tier. Without it xzup finds the compose file by \
                 its default names (or `-f FILE`) until the next apply writes a new one; runs, \
                 journals, the lock and backups are kept",
                path.display()
            )),
            StateError::NotADir { path } => Some(format!(
                "moving it aside is safe (`mv {0} {0}.moved`): xzup did not write it, so no state, \
                 journal or lock of xzup is lost; the next apply creates the directory",
                path.display()
            )),
            StateError::Io { .. } => None,
        }
    }
}

impl State {
    /// The saved state, or the default when none was saved yet.
    pub fn load(deployment_dir: &Path) -> Result<State, StateError> {
        let dir = state_dir(deployment_dir);
        if let Ok(meta) = std::fs::metadata(&dir)
            && !meta.is_dir()
        {
            return Err(StateError::NotADir { path: dir });
        }
        let path = dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StateError::Damaged {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) if e.kind() == io::ErrorKind::IsADirectory => Err(StateError::Damaged {
                path,
                reason: "it is a directory".into(),
            }),
            Err(source) => Err(StateError::Io { path, source }),
        }
    }

    /// Writes the state atomically, creating `.xzup/` (0700) when needed.
    pub fn save(&mut self, deployment_dir: &Path) -> io::Result<()> {
        let dir = state_dir(deployment_dir);
        fsutil::ensure_private_dir(&dir)?;
        self.updated_at = Some(chrono::Utc::now().to_rfc3339());
        let bytes = serde_json::to_vec_pretty(self).expect("state serialises");
        fsutil::write_atomic(&dir.join(STATE_FILE), &bytes, 0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_default() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), State::default());
        let mut state = State {
            active_compose: Some("docker-compose-ultra.yml".into()),
            tier: Some("ultra".into()),
            ..State::default()
        };
        state.save(dir.path()).unwrap();
        let back = State::load(dir.path()).unwrap();
        assert_eq!(back.active_compose, state.active_compose);
        assert!(back.updated_at.is_some());
    }
}
