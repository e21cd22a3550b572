//! Named volumes: where the engine keeps one (`docker volume inspect`), which volume Compose
//! made for a project's key (its labels), and creating one (a restore into a volume that
//! `down --volumes` removed, or the volume a restore moves the current content to).
//!
//! Compose labels every volume it creates, v1 and v2 alike, with the project and the key in
//! the file (`com.docker.compose.project`, `com.docker.compose.volume`): the labels find it
//! whatever name the flavour derived.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::engine::LABEL_PROJECT;
use super::{Docker, DockerError, exec};

/// Compose's label for the key a volume has in the compose file.
pub(crate) const LABEL_VOLUME: &str = "com.docker.compose.volume";

/// A volume as `docker volume inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeInfo {
    pub name: String,
    pub driver: String,
    /// Where the local driver keeps the content (`/var/lib/docker/volumes/NAME/_data`).
    pub mountpoint: PathBuf,
    pub labels: BTreeMap<String, String>,
    /// Driver options (`type`, `device`, `o` of a local volume bound elsewhere).
    pub options: BTreeMap<String, String>,
}

impl VolumeInfo {
    /// Whether the mountpoint is the content itself: the local driver without options
    /// (with `o: bind` or an NFS `type`, the content is mounted there only while a
    /// container uses it).
    pub fn is_plain_local(&self) -> bool {
        self.driver == "local" && self.options.is_empty()
    }
}

impl Docker {
    /// `docker volume inspect NAME`; `None` when there is no such volume.
    pub fn volume_inspect(&self, name: &str) -> Result<Option<VolumeInfo>, DockerError> {
        let inv = self.invocation(
            ["volume", "inspect", "--format", "{{json .}}", name],
            self.timeouts.query,
        );
        let finished = exec::run_unchecked(&inv, &self.redactor)?;
        if !finished.success() {
            let stderr = finished.stderr.to_ascii_lowercase();
            if stderr.contains("no such volume") {
                return Ok(None);
            }
            return Err(exec::failure(&inv, &self.redactor, &finished));
        }
        parse_volume(&finished.stdout)
            .map(Some)
            .map_err(|detail| self.parse_error(&["volume", "inspect", name], detail))
    }

    /// The names of the volumes Compose made for `key` of `project` (by their labels).
    pub fn compose_volumes(&self, project: &str, key: &str) -> Result<Vec<String>, DockerError> {
        let by_project = format!("label={LABEL_PROJECT}={project}");
        let by_key = format!("label={LABEL_VOLUME}={key}");
        let args = [
            "volume",
            "ls",
            "-q",
            "--filter",
            by_project.as_str(),
            "--filter",
            by_key.as_str(),
        ];
        let out = self.run(args, self.timeouts.query)?;
        Ok(out.stdout.split_whitespace().map(str::to_string).collect())
    }

    /// `docker volume create NAME` with `labels`; the volume as the engine then shows it.
    pub fn volume_create(
        &self,
        name: &str,
        labels: &[(String, String)],
    ) -> Result<VolumeInfo, DockerError> {
        let mut args = vec!["volume".to_string(), "create".to_string()];
        for (key, value) in labels {
            args.push("--label".to_string());
            args.push(format!("{key}={value}"));
        }
        args.push(name.to_string());
        self.run(&args, self.timeouts.query)?;
        self.volume_inspect(name)?.ok_or_else(|| {
            self.parse_error(&["volume", "create", name], "the new volume is not there")
        })
    }
}

fn parse_volume(stdout: &str) -> Result<VolumeInfo, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Raw {
        name: String,
        #[serde(default)]
        driver: String,
        #[serde(default)]
        mountpoint: String,
        labels: Option<BTreeMap<String, String>>,
        options: Option<BTreeMap<String, String>>,
    }
    let raw: Raw = serde_json::from_str(stdout.trim()).map_err(|e| e.to_string())?;
    Ok(VolumeInfo {
        name: raw.name,
        driver: raw.driver,
        mountpoint: PathBuf::from(raw.mountpoint),
        labels: raw.labels.unwrap_or_default(),
        options: raw.options.unwrap_or_default(),
    })
}

/// The labels Compose gives the volume `key` of `project` (so that a volume a restore
/// re-creates is Compose's own again, and `up` does not warn that it was made elsewhere).
pub fn compose_labels(project: &str, key: &str) -> Vec<(String, String)> {
    vec![
        (LABEL_PROJECT.to_string(), project.to_string()),
        (LABEL_VOLUME.to_string(), key.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_inspected_volume() {
        let v = parse_volume(
            r#"{"CreatedAt":"2026-12-01T22:14:17Z","Driver":"local","Labels":{"com.docker.compose.project":"xz","com.docker.compose.volume":"dbdata"},"Mountpoint":"/var/lib/docker/volumes/xz_dbdata/_data","Name":"xz_dbdata","Options":null,"Scope":"local"}"#,
        )
        .unwrap();
        assert_eq!(v.name, "xz_dbdata");
        assert_eq!(
            v.mountpoint,
            PathBuf::from("/var/lib/docker/volumes/xz_dbdata/_data")
        );
        assert_eq!(v.labels[LABEL_VOLUME], "dbdata");
        assert!(v.is_plain_local());
        let bound = parse_volume(
            r#"{"Driver":"local","Labels":null,"Mountpoint":"/m","Name":"b","Options":{"device":"/srv/x","o":"bind","type":"none"}}"#,
        )
        .unwrap();
        assert!(!bound.is_plain_local());
    }
}
