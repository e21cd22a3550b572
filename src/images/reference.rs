//! Image references as Docker reads them: `[registry[:port]/]path[:tag][@digest]`.
//! A colon after the last `/` starts the tag (`registry:5000/app` has none), `@` the digest.

use std::fmt;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    /// Registry, port and path: everything before the tag and digest (`mysql`,
    /// `registry:5000/team/app`).
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:…`
    pub digest: Option<String>,
}

/// Why a reference cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadReference {
    pub reference: String,
    pub why: &'static str,
}

impl fmt::Display for BadReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not an image reference: {}",
            self.reference, self.why
        )
    }
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference, BadReference> {
        let bad = |why| BadReference {
            reference: text.to_string(),
            why,
        };
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it holds a space or a control character"));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                if !is_digest(digest) {
                    return Err(bad("a digest is `sha256:` and 64 hex digits"));
                }
                (rest, Some(digest.to_string()))
            }
            None => (text, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&rest[..at], Some(rest[at + 1..].to_string()))
            }
            None => (rest, None),
        };
        if repository.is_empty() || repository.ends_with('/') || repository.starts_with('/') {
            return Err(bad("the repository name is missing"));
        }
        if let Some(tag) = &tag
            && !is_tag(tag)
        {
            return Err(bad(
                "a tag is 1 to 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`",
            ));
        }
        Ok(Reference {
            repository: repository.to_string(),
            tag,
            digest,
        })
    }

    /// The same repository with `tag` (and no digest).
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            repository: self.repository.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        }
    }

    /// Whether a pull may bring a different image under the same reference: no digest,
    /// and the tag is `latest` or none.
    pub fn is_unpinned(&self) -> bool {
        self.digest.is_none() && self.tag.as_deref().is_none_or(|t| t == "latest")
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// What the operator wrote after `--image SERVICE=`: a tag of the image the file names now,
/// a digest of it, or a reference of its own. Resolved against the file's `current` one.
pub(crate) fn resolve(current: &str, given: &str) -> Result<Reference, BadReference> {
    if is_digest(given) {
        let mut r = Reference::parse(current)?;
        r.tag = None;
        r.digest = Some(given.to_string());
        return Ok(r);
    }
    if given.contains(['/', ':', '@']) {
        return Reference::parse(given);
    }
    if !is_tag(given) {
        return Err(BadReference {
            reference: given.to_string(),
            why: "a tag is letters, digits, `_`, `.` or `-`, not starting with `.` or `-`",
        });
    }
    Ok(Reference::parse(current)?.with_tag(given))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parts(text: &str) -> (String, Option<String>, Option<String>) {
        let r = Reference::parse(text).unwrap();
        assert_eq!(r.to_string(), text, "gives the text back");
        (r.repository, r.tag, r.digest)
    }

    #[test]
    fn tags_digests_and_registry_ports() {
        assert_eq!(parts("mysql"), ("mysql".into(), None, None));
        assert_eq!(
            parts("mysql:8.4.5"),
            ("mysql".into(), Some("8.4.5".into()), None)
        );
        assert_eq!(
            parts("registry:5000/team/app"),
            ("registry:5000/team/app".into(), None, None)
        );
        assert_eq!(
            parts("registry:5000/team/app:v2"),
            ("registry:5000/team/app".into(), Some("v2".into()), None)
        );
        assert_eq!(
            parts(&format!("mysql@{D}")),
            ("mysql".into(), None, Some(D.into()))
        );
        assert_eq!(
            parts(&format!("localhost:5000/app:v1@{D}")),
            (
                "localhost:5000/app".into(),
                Some("v1".into()),
                Some(D.into())
            )
        );
        let upstream = "ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server:web_latest";
        let r = Reference::parse(upstream).unwrap();
        assert_eq!(
            r.repository,
            "ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server"
        );
        assert_eq!(r.tag.as_deref(), Some("web_latest"));
    }

    #[test]
    fn bad_references_say_why() {
        for bad in [
            "",
            "mysql:",
            ":8.0",
            "a b",
            "mysql@sha256:12",
            "app:-x",
            "reg:5000/",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Reference::parse("mysql@md5:1").unwrap_err().to_string(),
            "`mysql@md5:1` is not an image reference: a digest is `sha256:` and 64 hex digits"
        );
    }

    #[test]
    fn unpinned_is_latest_or_no_tag_without_a_digest() {
        assert!(Reference::parse("mysql").unwrap().is_unpinned());
        assert!(Reference::parse("mysql:latest").unwrap().is_unpinned());
        assert!(!Reference::parse("mysql:8.4.5").unwrap().is_unpinned());
        assert!(
            !Reference::parse(&format!("mysql@{D}"))
                .unwrap()
                .is_unpinned()
        );
        assert!(!Reference::parse("redis:8.0").unwrap().is_unpinned());
    }

    #[test]
    fn what_the_operator_gives_is_resolved_against_the_file() {
        let current = "ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server:web_latest";
        let r = |given: &str| resolve(current, given).unwrap().to_string();
        assert_eq!(
            r("web_0.8.1"),
            "ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server:web_0.8.1"
        );
        assert_eq!(
            r(D),
            format!("ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server@{D}")
        );
        assert_eq!(r("registry:5000/web:2"), "registry:5000/web:2");
        assert_eq!(r("other/web"), "other/web");
        assert!(resolve(current, "-bad").is_err());
        assert_eq!(
            resolve("registry:5000/app", "v3").unwrap().to_string(),
            "registry:5000/app:v3"
        );
    }
}
