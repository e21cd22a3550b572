//! Secrets and how xzup keeps them out of sight: which names hold one, the one mask that
//! replaces them, and the one [`Redactor`] that every message, journal entry, diff and
//! rendered file on stdout goes through.
//!
//! It lives on its own, below everything that shows text (`compose` finds the secrets,
//! `docker` redacts command lines and stderr, `journal` what it stores, `plan` and `render`
//! what they print), so that each can import it without importing the others.

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

    /// `text` with every known secret replaced by [`MASK`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
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
