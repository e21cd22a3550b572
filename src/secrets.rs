//! Secrets and how xzup keeps them out of sight: which names hold one, the one mask that
//! replaces them, and the one [`Redactor`] that every message, journal entry, diff and
//! rendered file on stdout goes through.
//!
//! It lives on its own, below everything that shows text (`compose` finds the secrets,
//! `docker` redacts command lines and stderr, `journal` what it stores, `plan` and `render`
//! what they print), so that each can import it without importing the others.
//!
//! Two ways of masking, for two kinds of text:
//! - a compose file (the rendered file on stdout, the plan's diff) is masked where its
//!   structure says a secret stands: `compose` finds the byte ranges, [`mask_spans`]
//!   replaces them. Nothing else in the file is touched, however it is spelled.
//! - free text (a docker command line, its stderr, a journal message) has no structure:
//!   there [`Redactor::redact`] replaces the known values, but only where one stands as a
//!   whole word, so that the password `xiaozhi` does not turn `xiaozhi-esp32-server` into
//!   `********-esp32-server` (which would also tell the reader the password).

/// What a secret is replaced with, everywhere.
pub const MASK: &str = "********";

/// Whether an environment variable or option named `name` holds a secret
/// (`MYSQL_ROOT_PASSWORD`, `MYSQL_PWD`, `--password`, `manager_secret`, `API_KEY`, ...).
pub fn is_secret_name(name: &str) -> bool {
    let name = name.trim_start_matches('-').to_ascii_uppercase();
    ["PASSWORD", "PASSWD", "PWD", "SECRET", "TOKEN", "KEY"]
        .iter()
        .any(|word| name.contains(word))
}

/// Hides secrets in text before it reaches a message, a journal or stdout.
///
/// [`Redactor::redact`] replaces every occurrence of a known secret (the compose file's
/// passwords); [`Redactor::redact_arg`] also hides, whatever the value, `-pPASSWORD` (the
/// mysql client's password option), `--password=…`, and `NAME=value` when
/// [`is_secret_name`] says NAME holds a secret.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is replaced whole.
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new<I, S>(secrets: I) -> Redactor
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut redactor = Redactor::default();
        redactor.add(secrets);
        redactor
    }

    /// Adds more secrets. Empty values are ignored: an empty password hides nothing.
    pub fn add<I, S>(&mut self, secrets: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for secret in secrets {
            let secret = secret.into();
            if !secret.is_empty() && !self.secrets.contains(&secret) {
                self.secrets.push(secret);
            }
        }
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// `text` with every known secret that stands as a whole word replaced by [`MASK`]:
    /// a secret that starts (ends) with a letter, digit, `_` or `-` is masked only where
    /// the character before (after) it is none of those.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = replace_words(&out, secret);
            }
        }
        out
    }

    /// One command-line argument, redacted by its shape and by the known secrets.
    pub fn redact_arg(&self, arg: &str) -> String {
        if let Some(value) = arg.strip_prefix("-p")
            && !value.is_empty()
            && !arg.starts_with("--")
        {
            return format!("-p{MASK}");
        }
        if let Some((name, _)) = arg.split_once('=')
            && is_name(name)
            && is_secret_name(name)
        {
            return format!("{name}={MASK}");
        }
        self.redact(arg)
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// `text` with each whole-word occurrence of `secret` masked.
fn replace_words(text: &str, secret: &str) -> String {
    let starts_word = secret.chars().next().is_some_and(is_word_char);
    let ends_word = secret.chars().last().is_some_and(is_word_char);
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, _) in text.match_indices(secret) {
        if at < last {
            continue;
        }
        let end = at + secret.len();
        let before = text[..at].chars().next_back();
        let after = text[end..].chars().next();
        // The mysql client's `-pPASSWORD` glues the password to its option.
        let glued = text[..at]
            .strip_suffix("-p")
            .is_some_and(|head| !head.chars().next_back().is_some_and(is_word_char));
        if (starts_word && before.is_some_and(is_word_char) && !glued)
            || (ends_word && after.is_some_and(is_word_char))
        {
            continue;
        }
        out.push_str(&text[last..at]);
        out.push_str(MASK);
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

/// `text` with each of `spans` (byte ranges, as a compose file's structure gives them)
/// replaced by [`MASK`]. Overlapping and touching ranges are masked once.
pub fn mask_spans(text: &str, spans: &[std::ops::Range<usize>]) -> String {
    let mut spans: Vec<std::ops::Range<usize>> =
        spans.iter().filter(|r| !r.is_empty()).cloned().collect();
    spans.sort_by_key(|r| (r.start, r.end));
    let mut out = String::with_capacity(text.len() + spans.len() * MASK.len());
    let mut last = 0;
    for span in spans {
        if span.end <= last {
            continue;
        }
        let start = span.start.max(last);
        out.push_str(&text[last..start]);
        if start == span.start {
            out.push_str(MASK);
        }
        last = span.end;
    }
    out.push_str(&text[last..]);
    out
}

/// Whether `text` is an option or variable name (and not, say, a line of SQL).
fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_are_masked_longest_first() {
        let redactor = Redactor::new(["abc", "abcdef", ""]);
        assert_eq!(redactor.redact("x abcdef y abc"), "x ******** y ********");
    }

    #[test]
    fn only_whole_words_are_masked() {
        let redactor = Redactor::new(["xiaozhi"]);
        assert_eq!(
            redactor.redact("xiaozhi-esp32-server exited; password xiaozhi, user=xiaozhi"),
            "xiaozhi-esp32-server exited; password ********, user=********"
        );
        assert_eq!(
            redactor.redact("redis://:xiaozhi@redis xiaozhi2024 myxiaozhi"),
            "redis://:********@redis xiaozhi2024 myxiaozhi"
        );
        assert_eq!(redactor.redact("mysql -pxiaozhi"), "mysql -p********");
        // An edge that is not a word character needs no boundary.
        assert_eq!(Redactor::new(["p@ss!"]).redact("pw p@ss!y"), "pw ********y");
    }

    #[test]
    fn spans_are_masked_once() {
        assert_eq!(
            mask_spans("a=1 b=22 c", &[6..8, 2..3, 6..7, 9..9]),
            "a=******** b=******** c"
        );
    }

    #[test]
    fn an_empty_secret_hides_nothing() {
        assert_eq!(Redactor::new([""]).redact("a b"), "a b");
    }

    #[test]
    fn arguments_are_masked_by_their_shape_whatever_the_value() {
        let redactor = Redactor::new(["s3cret!"]);
        assert_eq!(redactor.redact_arg("-phunter2"), "-p********");
        assert_eq!(
            redactor.redact_arg("--password=hunter2"),
            "--password=********"
        );
        assert_eq!(
            redactor.redact_arg("MYSQL_PWD=hunter2"),
            "MYSQL_PWD=********"
        );
        assert_eq!(redactor.redact_arg("SELECT 's3cret!'"), "SELECT '********'");
        // Not a password: `-p` alone (Compose's project option), `--project-name=x`.
        assert_eq!(redactor.redact_arg("-p"), "-p");
        assert_eq!(
            redactor.redact_arg("--project-name=dep"),
            "--project-name=dep"
        );
    }

    #[test]
    fn sql_with_an_equals_sign_is_not_taken_for_an_assignment() {
        let redactor = Redactor::default();
        assert_eq!(
            redactor.redact_arg("CREATE TABLE t (k INT PRIMARY KEY); SELECT * FROM t WHERE k=1"),
            "CREATE TABLE t (k INT PRIMARY KEY); SELECT * FROM t WHERE k=1"
        );
    }

    #[test]
    fn secret_names() {
        for name in [
            "MYSQL_PWD",
            "MYSQL_ROOT_PASSWORD",
            "PASSWD",
            "manager_secret",
            "API_KEY",
            "API_TOKEN",
            "--password",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["TZ", "MYSQL_DATABASE", "SPRING_DATA_REDIS_HOST"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }
}
