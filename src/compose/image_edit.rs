//! `image:` of a service, replaced in the text: only the bytes of that scalar change (its
//! quoting kept), every other byte stays as it was — the same promise as a tier's render.
//! The result is parsed again and checked: the same document with that one value changed.

use std::ops::Range;

use rowan::{GreenNodeData, Language, NodeOrToken};
use serde_yaml_ng::Value;
use yaml_edit::{Lang, SyntaxKind};

use super::scalar::decode;
use super::{ComposeError, ComposeFile, read};

fn kind(n: &GreenNodeData) -> SyntaxKind {
    Lang::kind_from_raw(n.kind())
}

/// The child nodes of `n` with their offsets.
fn nodes(n: &GreenNodeData, off: usize) -> Vec<(&GreenNodeData, usize)> {
    let mut at = off;
    let mut out = Vec::new();
    for child in n.children() {
        match child {
            NodeOrToken::Node(c) => {
                out.push((c, at));
                at += usize::from(c.text_len());
            }
            NodeOrToken::Token(t) => at += usize::from(t.text_len()),
        }
    }
    out
}

/// The first mapping at or under `n` (through the root, document and value wrappers).
fn mapping(n: &GreenNodeData, off: usize) -> Option<(&GreenNodeData, usize)> {
    match kind(n) {
        SyntaxKind::MAPPING => Some((n, off)),
        SyntaxKind::ROOT | SyntaxKind::DOCUMENT | SyntaxKind::VALUE => {
            nodes(n, off).into_iter().find_map(|(c, at)| mapping(c, at))
        }
        _ => None,
    }
}

/// The VALUE node of `key` in the mapping `map` (the last one, as a YAML reader takes it).
fn value_of<'a>(
    map: &'a GreenNodeData,
    off: usize,
    key: &str,
) -> Option<(&'a GreenNodeData, usize)> {
    let mut found = None;
    for (entry, at) in nodes(map, off) {
        if kind(entry) != SyntaxKind::MAPPING_ENTRY {
            continue;
        }
        let parts = nodes(entry, at);
        let is_key = parts
            .iter()
            .any(|(c, _)| kind(c) == SyntaxKind::KEY && decode(c.to_string().trim()).text == key);
        if is_key {
            found = parts
                .into_iter()
                .find(|(c, _)| kind(c) == SyntaxKind::VALUE);
        }
    }
    found
}

/// Where `services.<service>.image` is written: the byte range of its scalar.
fn image_span(tree: &GreenNodeData, service: &str) -> Option<Range<usize>> {
    let (top, at) = mapping(tree, 0)?;
    let (services, at) = value_of(top, at, "services")?;
    let (services, at) = mapping(services, at)?;
    let (svc, at) = value_of(services, at, service)?;
    let (svc, at) = mapping(svc, at)?;
    let (value, at) = value_of(svc, at, "image")?;
    let (scalar, at) = nodes(value, at)
        .into_iter()
        .find(|(c, _)| kind(c) == SyntaxKind::SCALAR)?;
    let raw = scalar.to_string();
    // The scalar node may carry trailing blanks; the value is its trimmed text.
    let lead = raw.len() - raw.trim_start().len();
    Some(at + lead..at + lead + raw.trim().len())
}

/// `reference` written as a scalar in the style of `old` (double, single or no quotes).
fn written_like(old: &str, reference: &str) -> String {
    if old.starts_with('"') {
        format!("\"{reference}\"")
    } else if old.starts_with('\'') {
        format!("'{reference}'")
    } else {
        reference.to_string()
    }
}

impl ComposeFile {
    /// The file with each service's `image:` of `images` (service → reference) set.
    pub fn with_images(
        &self,
        images: &std::collections::BTreeMap<String, String>,
    ) -> Result<ComposeFile, ComposeError> {
        let mut file = self.clone();
        for (service, reference) in images {
            if file.images().get(service) != Some(reference) {
                file = file.with_image(service, reference)?;
            }
        }
        Ok(file)
    }

    /// Byte ranges of the secret values in the text (to mask a file not rendered).
    pub fn secret_spans(&self) -> Vec<Range<usize>> {
        self.secret_places().into_iter().map(|s| s.span).collect()
    }

    /// The file with `service`'s `image:` set to `reference`; every other byte as it was.
    /// An `image:` written as an alias, a block or in a form xzup cannot place is refused.
    pub fn with_image(&self, service: &str, reference: &str) -> Result<ComposeFile, ComposeError> {
        let unsupported = |what: &str| ComposeError::Unsupported {
            path: self.path.clone(),
            service: service.to_string(),
            what: what.to_string(),
            hint: format!(
                "write `image: {reference}` for `{service}` by hand, or write its `image:` as a plain `image: NAME:TAG` line"
            ),
        };
        if read::service(&self.doc, service).is_none() {
            return Err(unsupported("the file has no such service"));
        }
        if !self.images().contains_key(service) {
            return Err(unsupported("it has no `image:` (a `build:` service)"));
        }
        let tree = self.take_lossless_tree().map_err(|e| unsupported(&e))?;
        let span = image_span(&tree, service)
            .ok_or_else(|| unsupported("its `image:` is not written as a plain value"))?;
        let old = &self.text[span.clone()];
        if old.starts_with(['*', '&', '!', '|', '>']) || old.contains('\n') {
            return Err(unsupported(
                "its `image:` is an alias, an anchor, a tag or a block",
            ));
        }
        let mut text = String::with_capacity(self.text.len() + reference.len());
        text.push_str(&self.text[..span.start]);
        text.push_str(&written_like(old, reference));
        text.push_str(&self.text[span.end..]);
        let edited = ComposeFile::parse_with_env(&self.path, text, self.env.clone())?;
        // The same document, that one value aside.
        let mut expected = self.doc.clone();
        let mut got = edited.doc.clone();
        for doc in [&mut expected, &mut got] {
            if let Some(Value::Mapping(services)) = doc.get_mut("services")
                && let Some(Value::Mapping(svc)) = services.get_mut(service)
            {
                svc.remove("image");
            }
        }
        if expected != got || edited.images().get(service).map(String::as_str) != Some(reference) {
            return Err(ComposeError::Render {
                path: self.path.clone(),
                detail: format!("the new `image:` of `{service}` did not read back as written"),
            });
        }
        Ok(edited)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn file(text: &str) -> ComposeFile {
        ComposeFile::parse_with_env(
            Path::new("/d/docker-compose.yml"),
            text.to_string(),
            super::super::env::Env::default(),
        )
        .unwrap()
    }

    #[test]
    fn only_the_image_scalar_changes() {
        let text = "# top\nservices:\n  web:\n    image: repo/web:v1   # the web\n    ports:\n      - \"8002:8002\"\n  db:\n    image: \"mysql:latest\"\n  r:\n    image: 'redis'\n    container_name: r\n";
        let f = file(text);
        let web = f.with_image("web", "repo/web:v2").unwrap();
        assert_eq!(web.text, text.replace("repo/web:v1", "repo/web:v2"));
        let db = f.with_image("db", "mysql:8.4.5").unwrap();
        assert_eq!(db.text, text.replace("\"mysql:latest\"", "\"mysql:8.4.5\""));
        let r = f.with_image("r", "registry:5000/redis:8.0").unwrap();
        assert_eq!(r.text, text.replace("'redis'", "'registry:5000/redis:8.0'"));
        assert_eq!(r.images()["r"], "registry:5000/redis:8.0");
    }

    #[test]
    fn the_upstream_file_changes_in_one_line() {
        let text = include_str!("../../tests/xzup/fixtures/docker-compose_all.yml");
        let f = file(text);
        let out = f
            .with_image(
                "xiaozhi-esp32-server-web",
                "ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server:web_0.9.0",
            )
            .unwrap();
        let changed: Vec<(&str, &str)> = text
            .lines()
            .zip(out.text.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(
            changed,
            [(
                "    image: ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server:web_latest",
                "    image: ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server:web_0.9.0"
            )]
        );
        assert_eq!(
            out.text.len(),
            text.len() - 1,
            "`latest` -> `0.9.0`, nothing else"
        );
    }

    #[test]
    fn a_service_without_an_image_is_refused_with_what_to_do() {
        let f = file(
            "services:\n  a:\n    build: .\n  b:\n    image: &img x:1\n  c:\n    image: *img\n",
        );
        let err = f.with_image("a", "x:2").unwrap_err();
        assert!(err.to_string().contains("has no `image:`"), "{err}");
        assert!(f.with_image("nope", "x:2").is_err());
        let err = f.with_image("c", "x:2").unwrap_err();
        assert!(matches!(err, ComposeError::Unsupported { .. }), "{err}");
        assert!(err.hint().unwrap().contains("image: x:2"));
    }
}
