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
    /// The last run that changed the deployment.
    pub last_run: Option<String>,
    /// When this state was written (RFC 3339).
    pub updated_at: Option<String>,
}

/// `DIR/.xzup`
pub fn state_dir(deployment_dir: &Path) -> PathBuf {
    deployment_dir.join(STATE_DIR)
}

impl State {
    /// The saved state, or the default when none was saved yet.
    pub fn load(deployment_dir: &Path) -> io::Result<State> {
        let path = state_dir(deployment_dir).join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not valid: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(e),
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
