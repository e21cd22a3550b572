//! Finding the compose file of a deployment directory.
//!
//! The order is the operator's word first (`-f`), then the file xzup itself activated
//! last time (after an apply the running stack was started from `docker-compose-<tier>.yml`,
//! and that is the file to read next), then the names the upstream project and Compose use.

use std::path::{Path, PathBuf};

use super::{CANDIDATES, ComposeError};

/// Finds the compose file: `explicit` (-f, relative to `dir`), else `last_activated`
/// (from xzup's state), else the first of [`CANDIDATES`] in `dir`.
pub fn locate(
    dir: &Path,
    explicit: Option<&Path>,
    last_activated: Option<&Path>,
) -> Result<PathBuf, ComposeError> {
    if let Some(explicit) = explicit {
        // `Path::join` keeps an absolute path as it is.
        let path = dir.join(explicit);
        return match path.metadata() {
            Ok(meta) if meta.is_file() => Ok(path),
            Ok(_) => Err(ComposeError::NotAFile { path }),
            Err(_) => Err(ComposeError::FileNotFound { path }),
        };
    }
    if !dir.is_dir() {
        return Err(ComposeError::DirNotFound {
            dir: dir.to_path_buf(),
        });
    }
    if let Some(last) = last_activated {
        let path = dir.join(last);
        // A file xzup wrote and the operator removed since is no reason to stop: fall
        // back to the usual names.
        if path.is_file() {
            return Ok(path);
        }
    }
    CANDIDATES
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| ComposeError::NoComposeFile {
            dir: dir.to_path_buf(),
            tried: CANDIDATES.iter().map(|name| format!("`{name}`")).collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, "services: {}\n").unwrap();
        path
    }

    #[test]
    fn explicit_wins() {
        let tmp = tempfile::tempdir().unwrap();
        touch(tmp.path(), "docker-compose.yml");
        let mine = touch(tmp.path(), "mine.yml");
        let found = locate(tmp.path(), Some(Path::new("mine.yml")), None).unwrap();
        assert_eq!(found, mine);
        // An absolute -f is taken as it is.
        let found = locate(Path::new("/nonexistent"), Some(&mine), None).unwrap();
        assert_eq!(found, mine);
    }

    #[test]
    fn explicit_missing_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        touch(tmp.path(), "docker-compose.yml");
        let err = locate(tmp.path(), Some(Path::new("nope.yml")), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "compose file `{}` does not exist",
                tmp.path().join("nope.yml").display()
            )
        );
        assert!(err.hint().unwrap().contains("`-f FILE`"));

        let err = locate(tmp.path(), Some(Path::new(".")), None).unwrap_err();
        assert!(matches!(err, ComposeError::NotAFile { .. }), "{err}");
    }

    #[test]
    fn last_activated_before_candidates() {
        let tmp = tempfile::tempdir().unwrap();
        touch(tmp.path(), "docker-compose_all.yml");
        let high = touch(tmp.path(), "docker-compose-high.yml");
        let found = locate(tmp.path(), None, Some(Path::new("docker-compose-high.yml"))).unwrap();
        assert_eq!(found, high);
        // Gone since: fall back to the usual names.
        std::fs::remove_file(&high).unwrap();
        let found = locate(tmp.path(), None, Some(Path::new("docker-compose-high.yml"))).unwrap();
        assert_eq!(found, tmp.path().join("docker-compose_all.yml"));
    }

    #[test]
    fn candidates_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        touch(tmp.path(), "compose.yml");
        assert_eq!(
            locate(tmp.path(), None, None).unwrap(),
            tmp.path().join("compose.yml")
        );
        touch(tmp.path(), "docker-compose.yml");
        assert_eq!(
            locate(tmp.path(), None, None).unwrap(),
            tmp.path().join("docker-compose.yml")
        );
        touch(tmp.path(), "docker-compose-offline.yml");
        assert_eq!(
            locate(tmp.path(), None, None).unwrap(),
            tmp.path().join("docker-compose-offline.yml")
        );
    }

    #[test]
    fn nothing_found_lists_what_was_tried() {
        let tmp = tempfile::tempdir().unwrap();
        let err = locate(tmp.path(), None, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "no compose file in `{}` (tried `docker-compose-offline.yml`, \
                 `docker-compose_all.yml`, `docker-compose.yml`, `docker-compose.yaml`, \
                 `compose.yaml`, `compose.yml`)",
                tmp.path().display()
            )
        );
        let hint = err.hint().unwrap();
        assert!(
            hint.contains("`-C DIR`") && hint.contains("`-f FILE`"),
            "{hint}"
        );
    }

    #[test]
    fn missing_dir() {
        let err = locate(Path::new("/nonexistent/xzup-dir"), None, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "directory `/nonexistent/xzup-dir` does not exist"
        );
        assert!(err.hint().unwrap().contains("`-C DIR`"));
    }
}
