//! Version upgrades: which images a run changes, the name xzup keeps a replaced image
//! under, and which db/Redis images are unpinned (`latest` or no tag) with the tag of the
//! version they run now (`xzup pin`). Plain rules over references and what the engine says
//! of an image; the steps and commands do the Docker calls.

mod reference;

use serde::Serialize;

use crate::compose::ComposeFile;
use crate::docker::ImageInfo;
use crate::roles::{Role, RoleMap};

pub(crate) use reference::{Reference, resolve};

/// A service whose `image:` differs between the file a run starts from and the one it
/// writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Change {
    pub service: String,
    pub from: String,
    pub to: String,
}

/// The services whose `image:` the run changes, in service order.
pub(crate) fn changes(previous: &ComposeFile, new: &ComposeFile) -> Vec<Change> {
    let before = previous.images();
    new.images()
        .into_iter()
        .filter_map(|(service, to)| {
            let from = before.get(&service)?;
            (from != &to).then(|| Change {
                service,
                from: from.clone(),
                to,
            })
        })
        .collect()
}

/// The name a run keeps a replaced image under: `<repository>:xzup-<run-id>` (the run id
/// made a valid tag). An image with no repository to speak of is kept as `xzup-kept`.
pub(crate) fn kept_name(reference: &str, run_id: &str) -> String {
    let repository = Reference::parse(reference)
        .map(|r| r.repository)
        .unwrap_or_else(|_| "xzup-kept".to_string());
    let mut tag: String = format!("xzup-{run_id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    tag.truncate(128);
    format!("{repository}:{tag}")
}

/// The upstream tag scheme: `--version V` is `server_V` for the server and `web_V` for
/// the web.
pub(crate) fn version_tag(role: Role, version: &str) -> Option<String> {
    match role {
        Role::Server => Some(format!("server_{version}")),
        Role::Web => Some(format!("web_{version}")),
        Role::Db | Role::Redis => None,
    }
}

/// Environment variables the official images record their version in.
const VERSION_ENV: [&str; 3] = ["MYSQL_VERSION", "MARIADB_VERSION", "REDIS_VERSION"];

/// The tag that names the version an image runs, for a file that names it `latest` or
/// untagged: another tag of the same repository on the same image (the most specific:
/// `8.4.5` before `8.4`), else the version the image records (its version label, or the
/// official images' `MYSQL_VERSION` / `REDIS_VERSION`, without the package suffix).
pub(crate) fn pin_tag(reference: &Reference, image: &ImageInfo) -> Option<String> {
    let mut tags: Vec<String> = image
        .repo_tags
        .iter()
        .filter_map(|t| Reference::parse(t).ok())
        .filter(|r| r.repository == reference.repository)
        .filter_map(|r| r.tag)
        .filter(|t| t != "latest" && !t.starts_with("xzup-"))
        .collect();
    tags.sort_by_key(|t| {
        (
            std::cmp::Reverse(t.matches('.').count()),
            std::cmp::Reverse(t.len()),
        )
    });
    if let Some(tag) = tags.into_iter().next() {
        return Some(tag);
    }
    let recorded = image.version.clone().or_else(|| {
        image.env.iter().find_map(|e| {
            let (name, value) = e.split_once('=')?;
            VERSION_ENV.contains(&name).then(|| value.to_string())
        })
    })?;
    // `8.4.5-1.el9`, `1:11.4.2+maria~ubu2404`: the upstream version only.
    let version = recorded
        .rsplit_once(':')
        .map_or(recorded.as_str(), |(_, v)| v);
    let version = version.split(['-', '+', '~']).next().unwrap_or("");
    let valid = !version.is_empty()
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.')
        && version.starts_with(|c: char| c.is_ascii_digit());
    valid.then(|| version.to_string())
}

/// A db or Redis service whose image a pull may move (`latest` or no tag, no digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Unpinned {
    pub role: Role,
    pub service: String,
    pub reference: String,
    /// The image its container runs now (or, without a container, the local image of the
    /// reference); `None`: neither is here.
    pub running_id: Option<String>,
    /// The reference with the tag of the version it runs, when that can be told.
    pub pinned: Option<String>,
}

impl Unpinned {
    /// One line for the plan's warnings and `pin`'s report.
    pub fn describe(&self) -> String {
        let head = format!(
            "{} `{}` uses `{}`, which a pull may move to a new major version",
            self.role, self.service, self.reference
        );
        match (&self.running_id, &self.pinned) {
            (Some(id), Some(pinned)) => format!(
                "{head} (it runs {}, that is `{pinned}`): `xzup pin` writes `{pinned}` into the file",
                short_id(id)
            ),
            (Some(id), None) => format!(
                "{head} (it runs {}, whose version cannot be told from the image): write a version tag into the file",
                short_id(id)
            ),
            (None, _) => format!(
                "{head}: `xzup pin` writes the tag of the version it runs, once the stack runs"
            ),
        }
    }
}

/// `sha256:0123456789ab…` → `0123456789ab`.
pub(crate) fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// The unpinned db and Redis images of `compose`; `running` gives the image a service
/// runs now (its container's, else the local image of the reference).
pub(crate) fn unpinned(
    compose: &ComposeFile,
    roles: &RoleMap,
    mut running: impl FnMut(&str, &str) -> Option<ImageInfo>,
) -> Vec<Unpinned> {
    let images = compose.images();
    let mut out = Vec::new();
    for role in [Role::Db, Role::Redis] {
        let Some(service) = roles.service(role) else {
            continue;
        };
        let Some(reference) = images.get(service) else {
            continue;
        };
        let Ok(parsed) = Reference::parse(reference) else {
            continue;
        };
        if !parsed.is_unpinned() || reference.contains('$') {
            continue;
        }
        let image = running(service, reference);
        let pinned = image
            .as_ref()
            .and_then(|i| pin_tag(&parsed, i))
            .map(|tag| parsed.with_tag(&tag).to_string());
        out.push(Unpinned {
            role,
            service: service.to_string(),
            reference: reference.clone(),
            running_id: image.map(|i| i.id),
            pinned,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(tags: &[&str], env: &[&str], version: Option<&str>) -> ImageInfo {
        ImageInfo {
            id: "sha256:0123456789abcdef".into(),
            repo_tags: tags.iter().map(|t| t.to_string()).collect(),
            env: env.iter().map(|t| t.to_string()).collect(),
            version: version.map(str::to_string),
            ..ImageInfo::default()
        }
    }

    #[test]
    fn the_pin_is_the_most_specific_other_tag_else_the_recorded_version() {
        let mysql = Reference::parse("mysql:latest").unwrap();
        let i = info(
            &["mysql:latest", "mysql:8.4", "mysql:8.4.5", "other:9"],
            &[],
            None,
        );
        assert_eq!(pin_tag(&mysql, &i).as_deref(), Some("8.4.5"));
        let i = info(
            &["mysql:latest"],
            &["PATH=/bin", "MYSQL_VERSION=8.4.5-1.el9"],
            None,
        );
        assert_eq!(pin_tag(&mysql, &i).as_deref(), Some("8.4.5"));
        let i = info(
            &["mysql:latest"],
            &["MARIADB_VERSION=1:11.4.2+maria~ubu2404"],
            None,
        );
        assert_eq!(pin_tag(&mysql, &i).as_deref(), Some("11.4.2"));
        let i = info(&["mysql:latest"], &["MYSQL_VERSION=8.0.1"], Some("8.0.2"));
        assert_eq!(
            pin_tag(&mysql, &i).as_deref(),
            Some("8.0.2"),
            "the label first"
        );
        let i = info(&["mysql:latest", "mysql:xzup-run1"], &[], None);
        assert_eq!(pin_tag(&mysql, &i), None, "xzup's own names are no version");
    }

    #[test]
    fn kept_names_are_valid_tags_of_the_same_repository() {
        assert_eq!(
            kept_name(
                "ghcr.nju.edu.cn/x/xiaozhi-esp32-server:web_latest",
                "20261202-0636-apply-grow"
            ),
            "ghcr.nju.edu.cn/x/xiaozhi-esp32-server:xzup-20261202-0636-apply-grow"
        );
        assert_eq!(
            kept_name("registry:5000/app", "a b+c"),
            "registry:5000/app:xzup-a-b-c"
        );
        let r = Reference::parse(&kept_name("mysql", &"x".repeat(200))).unwrap();
        assert_eq!(r.tag.unwrap().len(), 128);
    }

    #[test]
    fn the_version_shorthand_follows_upstreams_tags() {
        assert_eq!(
            version_tag(Role::Server, "0.9.1").as_deref(),
            Some("server_0.9.1")
        );
        assert_eq!(
            version_tag(Role::Web, "0.9.1").as_deref(),
            Some("web_0.9.1")
        );
        assert_eq!(version_tag(Role::Db, "0.9.1"), None);
    }
}
