//! Images on the engine: what an image is (ID, the tags it has, its version label and
//! environment), a tag xzup puts on one, a pull of one reference.

use serde::Deserialize;

use super::exec;
use super::{Docker, DockerError};

/// What `docker image inspect` says of an image that xzup uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageInfo {
    /// `sha256:…`
    pub id: String,
    /// Every `repo:tag` naming this image.
    pub repo_tags: Vec<String>,
    /// `repo@sha256:…` of the registries it came from.
    pub repo_digests: Vec<String>,
    /// `org.opencontainers.image.version` (or `version`) label, when it has one.
    pub version: Option<String>,
    /// `Config.Env` as `NAME=value`.
    pub env: Vec<String>,
}

/// The version labels, the OCI one first.
pub const VERSION_LABELS: [&str; 2] = ["org.opencontainers.image.version", "version"];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Raw {
    id: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    repo_digests: Option<Vec<String>>,
    #[serde(default)]
    config: Option<RawConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawConfig {
    #[serde(default)]
    labels: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
}

pub(crate) fn parse_image_inspect(text: &str) -> Result<Vec<ImageInfo>, String> {
    let raw: Vec<Raw> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(raw
        .into_iter()
        .map(|r| {
            let config = r.config.unwrap_or(RawConfig {
                labels: None,
                env: None,
            });
            let labels = config.labels.unwrap_or_default();
            ImageInfo {
                id: r.id,
                repo_tags: r.repo_tags.unwrap_or_default(),
                repo_digests: r.repo_digests.unwrap_or_default(),
                version: VERSION_LABELS
                    .iter()
                    .find_map(|l| labels.get(*l).cloned())
                    .filter(|v| !v.is_empty()),
                env: config.env.unwrap_or_default(),
            }
        })
        .collect())
}

impl Docker {
    /// `docker image inspect IMAGE` (a reference or an ID); `None` when there is no such
    /// image.
    pub fn image_info(&self, image: &str) -> Result<Option<ImageInfo>, DockerError> {
        let args = ["image", "inspect", image];
        let inv = self.invocation(args, self.timeouts.query);
        let finished = exec::run_unchecked(&inv, &self.redactor)?;
        if !finished.success() {
            if finished.stderr.contains("No such image")
                || finished.stderr.contains("No such object")
            {
                return Ok(None);
            }
            return Err(exec::failure(&inv, &self.redactor, &finished));
        }
        let mut infos =
            parse_image_inspect(&finished.stdout).map_err(|d| self.parse_error(&args, d))?;
        Ok((!infos.is_empty()).then(|| infos.remove(0)))
    }

    /// `docker tag SOURCE TARGET`: one more name for an image.
    pub fn tag(&self, source: &str, target: &str) -> Result<(), DockerError> {
        self.run(["tag", source, target], self.timeouts.query)
            .map(drop)
    }

    /// `docker pull -q REFERENCE`.
    pub fn pull_image(&self, reference: &str) -> Result<(), DockerError> {
        self.run(["pull", "-q", reference], self.timeouts.pull)
            .map(drop)
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn inspect_gives_id_tags_version_and_env() {
        let text = r#"[{"Id":"sha256:ab","RepoTags":["mysql:latest","mysql:8.4.5"],"RepoDigests":null,
            "Config":{"Labels":{"org.opencontainers.image.version":"8.4.5"},"Env":["MYSQL_VERSION=8.4.5-1.el9"]}}]"#;
        let infos = parse_image_inspect(text).unwrap();
        assert_eq!(
            infos,
            [ImageInfo {
                id: "sha256:ab".into(),
                repo_tags: vec!["mysql:latest".into(), "mysql:8.4.5".into()],
                repo_digests: vec![],
                version: Some("8.4.5".into()),
                env: vec!["MYSQL_VERSION=8.4.5-1.el9".into()],
            }]
        );
        let bare = parse_image_inspect(r#"[{"Id":"sha256:cd","Config":{"Labels":null}}]"#).unwrap();
        assert_eq!(bare[0].version, None);
        assert!(parse_image_inspect("nope").is_err());
    }
}
