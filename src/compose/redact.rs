//! Where the secrets of a compose file stand in its text, found by the YAML structure.
//!
//! Masking by searching the text for known values damages output (with the password
//! `xiaozhi`, `xiaozhi-esp32-server` would read `********-esp32-server`, and tell the
//! reader the password) and misses values written differently from how they read
//! (`'it''s'`, `"\x53"`). So the lossless tree is walked instead, and each secret value is
//! decoded ([`super::scalar`]) and mapped back to the bytes that hold it. A secret is:
//! - the value of a key whose name says it holds one ([`crate::secrets::is_secret_name`]:
//!   `MYSQL_ROOT_PASSWORD: x`, `x-api-key: y`), whatever it is (a scalar, a block, an
//!   alias of an anchored value elsewhere); `secrets:`, Compose's own key, names files;
//! - in `environment:` as a list (`- NAME=value`) or as one string, the value of a
//!   secret-named variable;
//! - in a `command:`, `entrypoint:` or `healthcheck.test` (a list or a string): the word
//!   after `--requirepass`, `--masterauth`, `--password`, redis-cli's `-a`, the value of
//!   a mysql client's `-pPASSWORD`, of `NAME=value` with a secret NAME;
//! - in any value, the password of a URL (`jdbc:mysql://user:pass@host`,
//!   `redis://:pass@host`) and secret-named query parameters (`?password=x`).

use std::collections::HashMap;
use std::ops::Range;

use rowan::{GreenNodeData, Language, NodeOrToken};
use yaml_edit::{Lang, SyntaxKind};

use super::command_flags::split_string;
use super::scalar::{Decoded, decode};
use crate::secrets::is_secret_name;

/// A secret: where it is written in the text, and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Secret {
    pub span: Range<usize>,
    pub value: String,
}

/// The secrets of the document whose lossless tree is `root`.
pub(crate) fn find(root: &GreenNodeData) -> Vec<Secret> {
    let mut finder = Finder::default();
    finder.node(root, 0, Ctx::Plain);
    let mut out = finder.out;
    out.sort_by_key(|s| (s.span.start, s.span.end));
    out.dedup();
    out
}

/// What the node being walked is the value of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Plain,
    /// The value of a secret-named key: all of it is secret.
    Secret,
    /// `environment:` (list items and the string form are assignments).
    Environment,
    /// `command:`, `entrypoint:`, `healthcheck.test`.
    Command,
    /// `healthcheck:` (its `test` is a command).
    Healthcheck,
}

fn kind(n: &GreenNodeData) -> SyntaxKind {
    Lang::kind_from_raw(n.kind())
}

#[derive(Default)]
struct Finder<'a> {
    anchors: HashMap<String, (usize, &'a GreenNodeData)>,
    out: Vec<Secret>,
}

impl<'a> Finder<'a> {
    fn node(&mut self, n: &'a GreenNodeData, off: usize, ctx: Ctx) {
        match kind(n) {
            SyntaxKind::MAPPING => {
                for (child, at) in children(n, off) {
                    if let NodeOrToken::Node(e) = child
                        && kind(e) == SyntaxKind::MAPPING_ENTRY
                    {
                        self.entry(e, at, ctx);
                    }
                }
            }
            SyntaxKind::SEQUENCE if ctx == Ctx::Command => self.command_list(n, off),
            SyntaxKind::SEQUENCE => {
                for (child, at) in children(n, off) {
                    if let NodeOrToken::Node(e) = child
                        && kind(e) == SyntaxKind::SEQUENCE_ENTRY
                    {
                        self.container(e, at, ctx);
                    }
                }
            }
            SyntaxKind::SCALAR => self.scalar(n, off, ctx),
            SyntaxKind::ALIAS if ctx == Ctx::Secret => {
                let name = n.to_string();
                let name = name.trim().trim_start_matches('*');
                if let Some(&(at, target)) = self.anchors.get(name) {
                    self.node(target, at, Ctx::Secret);
                }
            }
            SyntaxKind::ALIAS => {}
            _ => self.container(n, off, ctx),
        }
    }

    /// A node holding others (a document, a `VALUE`, a sequence entry, a tagged node):
    /// anchors are noted, child nodes walked.
    fn container(&mut self, n: &'a GreenNodeData, off: usize, ctx: Ctx) {
        let mut anchor: Option<String> = None;
        for (child, at) in children(n, off) {
            match child {
                NodeOrToken::Token(t) if Lang::kind_from_raw(t.kind()) == SyntaxKind::ANCHOR => {
                    anchor = Some(t.text().trim_start_matches('&').to_string());
                }
                NodeOrToken::Token(_) => {}
                NodeOrToken::Node(c) => {
                    if let Some(name) = anchor.take() {
                        self.anchors.insert(name, (at, c));
                    }
                    self.node(c, at, ctx);
                }
            }
        }
    }

    fn entry(&mut self, e: &'a GreenNodeData, off: usize, ctx: Ctx) {
        let mut key: Option<String> = None;
        for (child, at) in children(e, off) {
            let NodeOrToken::Node(c) = child else {
                continue;
            };
            match kind(c) {
                SyntaxKind::KEY => {
                    key = Some(decode(c.to_string().trim()).text);
                    // A key can itself be a secret's place only in a secret value.
                    if ctx == Ctx::Secret {
                        self.container(c, at, ctx);
                    }
                }
                SyntaxKind::VALUE => {
                    let key = key.as_deref().unwrap_or("");
                    self.container(c, at, value_ctx(key, ctx));
                }
                _ => {}
            }
        }
    }

    fn push(&mut self, base: usize, decoded: &Decoded, range: Range<usize>) {
        if range.is_empty() {
            return;
        }
        let src = decoded.source_range(range.clone());
        self.out.push(Secret {
            span: base + src.start..base + src.end,
            value: decoded.text[range].to_string(),
        });
    }

    fn scalar(&mut self, n: &GreenNodeData, off: usize, ctx: Ctx) {
        let raw = n.to_string();
        // Most values are none of these: spare them the decoding.
        let url_like = raw.contains("://") || raw.contains(['?', '&', ';']);
        let plain = matches!(ctx, Ctx::Plain | Ctx::Healthcheck);
        // `- TZ=UTC`: a variable whose name holds no secret (a quoted or escaped name is
        // decoded to be sure).
        let harmless_assignment = ctx == Ctx::Environment
            && !raw.contains('\n')
            && raw
                .split_once('=')
                .is_some_and(|(name, _)| is_var_name(name) && !is_secret_name(name));
        if !url_like && (plain || harmless_assignment) {
            return;
        }
        let decoded = decode(&raw);
        let text = decoded.text.as_str();
        match ctx {
            Ctx::Secret => self.push(off, &decoded, 0..text.len()),
            Ctx::Environment => {
                for range in assignment_secrets(text) {
                    self.push(off, &decoded, range);
                }
            }
            Ctx::Command => {
                if let Some(tokens) = split_string(text) {
                    let words: Vec<&str> = tokens.iter().map(|t| t.text.as_str()).collect();
                    for (word, range) in command_secrets(&words) {
                        let token = &tokens[word];
                        // The word as written in the string (quotes and all) when the
                        // whole word is secret; else the part inside it.
                        let range = if range == (0..words[word].len()) {
                            token.span.clone()
                        } else {
                            let start = token.span.end - token.text.len();
                            start + range.start..start + range.end
                        };
                        self.push(off, &decoded, range);
                    }
                }
            }
            Ctx::Plain | Ctx::Healthcheck => {}
        }
        for range in url_secrets(text) {
            self.push(off, &decoded, range);
        }
    }

    /// A command written as a list: each item a word.
    fn command_list(&mut self, n: &'a GreenNodeData, off: usize) {
        let mut items: Vec<(usize, Decoded)> = Vec::new();
        for (child, at) in children(n, off) {
            let NodeOrToken::Node(e) = child else {
                continue;
            };
            if kind(e) != SyntaxKind::SEQUENCE_ENTRY {
                continue;
            }
            for (c, c_at) in children(e, at) {
                if let NodeOrToken::Node(s) = c
                    && kind(s) == SyntaxKind::SCALAR
                {
                    items.push((c_at, decode(&s.to_string())));
                }
            }
        }
        let words: Vec<&str> = items.iter().map(|(_, d)| d.text.as_str()).collect();
        let found = command_secrets(&words);
        for (word, range) in found {
            let (at, decoded) = &items[word];
            self.push(*at, decoded, range);
        }
        for (at, decoded) in &items {
            for range in url_secrets(&decoded.text) {
                self.push(*at, decoded, range);
            }
        }
    }
}

/// The children of `n` with their offsets.
fn children(
    n: &GreenNodeData,
    off: usize,
) -> impl Iterator<Item = (NodeOrToken<&GreenNodeData, &rowan::GreenTokenData>, usize)> {
    let mut at = off;
    n.children().map(move |child| {
        let here = at;
        at += usize::from(match child {
            NodeOrToken::Node(c) => c.text_len(),
            NodeOrToken::Token(t) => t.text_len(),
        });
        (child, here)
    })
}

fn value_ctx(key: &str, parent: Ctx) -> Ctx {
    if parent == Ctx::Secret {
        return Ctx::Secret;
    }
    match key {
        "environment" => Ctx::Environment,
        "command" | "entrypoint" => Ctx::Command,
        "healthcheck" => Ctx::Healthcheck,
        "test" if parent == Ctx::Healthcheck => Ctx::Command,
        // Compose's `secrets:` names files and secrets, it holds none.
        "secrets" => Ctx::Plain,
        key if is_secret_name(key) => Ctx::Secret,
        _ => Ctx::Plain,
    }
}

/// `NAME=value` assignments (an `environment:` list item, or several in one string):
/// the values of secret-named ones.
fn assignment_secrets(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for piece in text.split_inclusive(['\n']) {
        let line = piece.trim_end_matches(['\n', '\r']);
        let lead = line.len() - line.trim_start().len();
        let body = &line[lead..];
        if let Some((name, value)) = body.split_once('=')
            && is_var_name(name.trim_end())
            && is_secret_name(name.trim_end())
        {
            let value_start = start + lead + name.len() + 1;
            let trimmed = value.trim_end();
            out.push(value_start..value_start + trimmed.len());
        }
        start += piece.len();
    }
    out
}

fn is_var_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// The program a word runs (`/usr/bin/redis-cli` → `redis-cli`).
fn program(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// Options whose value (the next word, or after `=`/a space in the same word) is a
/// password.
const PASSWORD_OPTIONS: [&str; 4] = ["--requirepass", "--masterauth", "--password", "--pass"];

/// In the words of a command: (word, range in it) of each password.
fn command_secrets(words: &[&str]) -> Vec<(usize, Range<usize>)> {
    let mysql_client = words.iter().any(|w| {
        matches!(
            program(w),
            "mysql" | "mysqladmin" | "mysqldump" | "mariadb" | "mariadb-admin" | "mariadb-dump"
        )
    });
    let redis_cli = words.iter().any(|w| program(w) == "redis-cli");
    let mut out = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let takes_next = PASSWORD_OPTIONS.contains(word) || (redis_cli && *word == "-a");
        if takes_next {
            if let Some(next) = words.get(i + 1) {
                out.push((i + 1, 0..next.len()));
            }
            continue;
        }
        if let Some(option) = PASSWORD_OPTIONS
            .iter()
            .find(|o| word.starts_with(*o) && word[o.len()..].starts_with([' ', '=']))
        {
            out.push((i, option.len() + 1..word.len()));
            continue;
        }
        if mysql_client && word.len() > 2 && word.starts_with("-p") && !word.starts_with("--") {
            out.push((i, 2..word.len()));
            continue;
        }
        for range in assignment_secrets(word) {
            out.push((i, range));
        }
    }
    out
}

/// The passwords of URLs in `text` (`scheme://user:password@host`) and the values of
/// secret-named query parameters (`?user=root&password=x`).
fn url_secrets(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let ends = |c: char| c.is_whitespace() || "/?#\"',;".contains(c);
    let mut from = 0;
    while let Some(found) = text[from..].find("://") {
        let start = from + found + 3;
        let end = text[start..].find(ends).map_or(text.len(), |e| start + e);
        let authority = &text[start..end];
        if let Some(at) = authority.rfind('@')
            && let Some(colon) = authority[..at].find(':')
        {
            out.push(start + colon + 1..start + at);
        }
        from = end.max(start);
    }
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices(['?', '&', ';']) {
        let rest = &text[i + 1..];
        // The name ends at the first character that cannot be in one (a scan to the next
        // `=` would make a long value without one quadratic).
        let eq = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_-.".contains(c)))
            .unwrap_or(rest.len());
        if !rest[eq..].starts_with('=') {
            continue;
        }
        let name = &rest[..eq];
        if !is_var_name(name) || !is_secret_name(name) {
            continue;
        }
        let value_start = i + 1 + eq + 1;
        let value_end = text[value_start..]
            .find(|c: char| c.is_whitespace() || "&;#\"'".contains(c))
            .map_or(text.len(), |e| value_start + e);
        if value_end > value_start && bytes.get(value_start).is_some() {
            out.push(value_start..value_end);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use rowan::ast::AstNode;

    use super::*;

    fn secrets(text: &str) -> Vec<(String, String)> {
        let yaml = yaml_edit::YamlFile::from_str(text).unwrap();
        let green = yaml.syntax().green().into_owned();
        find(&green)
            .into_iter()
            .map(|s| (text[s.span].to_string(), s.value))
            .collect()
    }

    fn pair(written: &str, value: &str) -> (String, String) {
        (written.to_string(), value.to_string())
    }

    #[test]
    fn environment_in_every_form() {
        let got = secrets(
            "services:\n  a:\n    environment:\n      - 'MYSQL_ROOT_PASSWORD=it''sS3cret'\n      - \"REDIS_PASSWORD=a\\\"b\"\n      - \"DB_PASSWORD=\\x53ecret\"\n      - TZ=UTC\n      - SPRING_DATASOURCE_DRUID_PASSWORD=${DB_PASSWORD:-xiaozhi2024}\n  b:\n    environment:\n      MYSQL_PASSWORD: \"m\"\n      API_TOKEN: tok\n      PORT: 1\n",
        );
        assert_eq!(
            got,
            [
                pair("it''sS3cret", "it'sS3cret"),
                pair("a\\\"b", "a\"b"),
                pair("\\x53ecret", "Secret"),
                pair("${DB_PASSWORD:-xiaozhi2024}", "${DB_PASSWORD:-xiaozhi2024}"),
                pair("m", "m"),
                pair("tok", "tok"),
            ]
        );
    }

    #[test]
    fn environment_as_one_string() {
        let got = secrets(
            "services:\n  a:\n    environment: |\n      TZ=UTC\n      MYSQL_ROOT_PASSWORD=pw1\n",
        );
        assert_eq!(got, [pair("pw1", "pw1")]);
    }

    #[test]
    fn commands_and_healthchecks() {
        let got = secrets(
            "services:\n  r:\n    command: redis-server --requirepass 'p w' --masterauth=m1\n    healthcheck:\n      test: [\"CMD\", \"redis-cli\", \"-a\", \"hc\", \"ping\"]\n  s:\n    command: [\"redis-server\", \"--requirepass l1\", \"--appendonly\", \"yes\"]\n  d:\n    healthcheck:\n      test: [\"CMD\", \"mysqladmin\", \"ping\", \"-p${DB_PASSWORD:-xz}\"]\n    command: >\n      --max_connections=1\n      --password\n      folded\n",
        );
        assert_eq!(
            got,
            [
                pair("'p w'", "'p w'"),
                pair("m1", "m1"),
                pair("hc", "hc"),
                pair("l1", "l1"),
                pair("${DB_PASSWORD:-xz}", "${DB_PASSWORD:-xz}"),
                pair("folded", "folded"),
            ]
        );
    }

    #[test]
    fn urls_keys_and_aliases() {
        let got = secrets(
            "x-pw: &pw hunter2\nservices:\n  w:\n    environment:\n      - SPRING_URL=jdbc:mysql://root:p4ss@db:3306/x?useSSL=false&password=q1\n      - REDIS_URL=redis://:r3d@redis:6379/0\n    labels:\n      x-api-key: k1\n  d:\n    environment:\n      MYSQL_ROOT_PASSWORD: *pw\n    secrets:\n      - db_password\n",
        );
        assert_eq!(
            got,
            [
                pair("hunter2", "hunter2"),
                pair("p4ss", "p4ss"),
                pair("q1", "q1"),
                pair("r3d", "r3d"),
                pair("k1", "k1"),
            ]
        );
    }

    #[test]
    fn names_that_merely_contain_a_password_are_not_secrets() {
        let got = secrets(
            "services:\n  xiaozhi-esp32-server:\n    container_name: xiaozhi-esp32-server\n    environment:\n      - MYSQL_ROOT_PASSWORD=xiaozhi\n",
        );
        assert_eq!(got, [pair("xiaozhi", "xiaozhi")]);
    }
}
