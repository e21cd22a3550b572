//! Variables in a compose file, resolved the way Compose resolves them.
//!
//! Compose substitutes `$VAR` and `${VAR…}` in values before it reads them, taking each
//! variable from the shell first and from the project's `.env` file (beside the compose
//! file) second. The forms both flavours accept (compose-spec "Interpolation"; v1
//! `compose/config/interpolation.py`, v2 compose-go `template`):
//!
//! | form | value |
//! |---|---|
//! | `$VAR`, `${VAR}` | the variable, or empty when unset |
//! | `${VAR:-default}` / `${VAR-default}` | `default` when unset or empty / only when unset |
//! | `${VAR:?message}` / `${VAR?message}` | an error with `message` when unset or empty / unset |
//! | `${VAR:+other}` / `${VAR+other}` | `other` when set and non-empty / set, else empty |
//! | `$$` | a literal `$` |
//!
//! A default may itself hold `${…}` (compose-go nests them). xzup reads values through
//! [`interpolate`] and, where it would edit one, asks [`references`] which variables a
//! value comes from, so that it never overwrites `${DB_MEMORY:-2g}` with a literal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The project's `.env` file name (Compose reads it from the project dir).
pub(crate) const DOT_ENV: &str = ".env";

/// Where a variable's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// The environment xzup runs in (Compose gives it precedence over `.env`).
    Process,
    /// A line of the project's `.env` file (1-based).
    DotEnv { path: PathBuf, line: usize },
}

/// One variable's value and where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Var {
    pub value: String,
    pub source: Source,
}

/// The variables a compose file is interpolated with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Env {
    vars: BTreeMap<String, Var>,
}

/// Why a value could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InterpolationError {
    #[error("`${{{name}…}}` is not closed")]
    Unclosed { name: String },
    #[error("`{text}` is not a variable Compose can substitute")]
    Invalid { text: String },
    /// `${VAR:?message}` with the variable unset (or empty).
    #[error("variable `{name}` is required: {message}")]
    Required { name: String, message: String },
}

impl Env {
    /// The shell's environment over the `.env` file in `project_dir` (absent: none).
    pub fn load(project_dir: &Path) -> std::io::Result<Env> {
        let path = project_dir.join(DOT_ENV);
        let mut env = match std::fs::read_to_string(&path) {
            Ok(text) => Env::parse_dot_env(&path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Env::default(),
            Err(e) => return Err(e),
        };
        // `vars()` would panic on a variable that is not UTF-8; such a one cannot be
        // substituted into a compose file anyway.
        let process = std::env::vars_os().filter_map(|(name, value)| {
            Some((name.into_string().ok()?, value.into_string().ok()?))
        });
        for (name, value) in process {
            env.vars.insert(
                name,
                Var {
                    value,
                    source: Source::Process,
                },
            );
        }
        Ok(env)
    }

    /// The variables of a `.env` file: `NAME=value` lines, `#` comments, an optional
    /// `export ` prefix, values in single quotes (literal) or double quotes (`\n`, `\"`).
    pub fn parse_dot_env(path: &Path, text: &str) -> Env {
        let mut vars = BTreeMap::new();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let Some((name, value)) = line.split_once('=') else {
                continue;
            };
            let name = name.trim();
            if !valid_name(name) {
                continue;
            }
            vars.insert(
                name.to_string(),
                Var {
                    value: dot_env_value(value.trim_start()),
                    source: Source::DotEnv {
                        path: path.to_path_buf(),
                        line: index + 1,
                    },
                },
            );
        }
        Env { vars }
    }

    /// An environment of `pairs` alone (tests, and callers that know the values).
    #[cfg(test)]
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(n, v)| {
                    (
                        n.to_string(),
                        Var {
                            value: v.to_string(),
                            source: Source::Process,
                        },
                    )
                })
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Var> {
        self.vars.get(name)
    }
}

fn dot_env_value(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.rsplit_once('\'')) {
        return inner.0.to_string();
    }
    if let Some(inner) = value.strip_prefix('"').and_then(|v| v.rsplit_once('"')) {
        return inner
            .0
            .replace("\\n", "\n")
            .replace("\\\"", "\"")
            .replace("\\\\", "\\");
    }
    // An unquoted value ends at ` #` (an inline comment).
    match value.find(" #") {
        Some(at) => value[..at].trim_end().to_string(),
        None => value.trim_end().to_string(),
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A variable a value refers to, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    pub name: String,
    /// The default of `${NAME:-default}` / `${NAME-default}`, as written.
    pub default: Option<String>,
    /// Where the reference stands in the value (byte range, `$` to the closing `}`).
    pub span: std::ops::Range<usize>,
}

/// Whether `text` refers to any variable (`$$` alone does not; a broken `${` does).
pub(crate) fn has_variables(text: &str) -> bool {
    references(text).map_or(true, |refs| !refs.is_empty())
}

/// The variables `text` refers to at its top level, in order.
// For the editing of interpolated resources (issue 9, item 3), landing beside this.
#[allow(dead_code)]
pub(crate) fn references(text: &str) -> Result<Vec<Reference>, InterpolationError> {
    let mut refs = Vec::new();
    scan(text, &Env::default(), &mut refs)?;
    Ok(refs)
}

/// `text` with every variable substituted from `env`.
pub(crate) fn interpolate(text: &str, env: &Env) -> Result<String, InterpolationError> {
    scan(text, env, &mut Vec::new())
}

/// Substitutes `text` and collects its top-level references.
fn scan(text: &str, env: &Env, refs: &mut Vec<Reference>) -> Result<String, InterpolationError> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            let next = text[i..].find('$').map_or(text.len(), |n| i + n);
            out.push_str(&text[i..next]);
            i = next;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'$') => {
                out.push('$');
                i += 2;
            }
            Some(b'{') => {
                let end =
                    closing_brace(text, i + 2).ok_or_else(|| InterpolationError::Unclosed {
                        name: text[i + 2..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect(),
                    })?;
                let body = &text[i + 2..end];
                let (value, reference) = braced(body, env, i..end + 1)?;
                out.push_str(&value);
                refs.push(reference);
                i = end + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let len = text[i + 1..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(text.len() - i - 1);
                let name = &text[i + 1..i + 1 + len];
                out.push_str(env.get(name).map_or("", |v| v.value.as_str()));
                refs.push(Reference {
                    name: name.to_string(),
                    default: None,
                    span: i..i + 1 + len,
                });
                i += 1 + len;
            }
            // A lone `$` (before a space, a digit, the end) stays as it is, as in Compose.
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

/// The `}` that closes the `${` whose body starts at `from`, counting nested `${…}`.
fn closing_brace(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 2;
                continue;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The value of `${body}`.
fn braced(
    body: &str,
    env: &Env,
    span: std::ops::Range<usize>,
) -> Result<(String, Reference), InterpolationError> {
    let name_len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let name = &body[..name_len];
    if !valid_name(name) {
        return Err(InterpolationError::Invalid {
            text: format!("${{{body}}}"),
        });
    }
    let rest = &body[name_len..];
    let var = env.get(name).map(|v| v.value.as_str());
    let (op, arg) = if rest.is_empty() {
        ("", "")
    } else {
        let op_len = if rest.starts_with(':') { 2 } else { 1 };
        if rest.len() < op_len || !matches!(&rest[op_len - 1..op_len], "-" | "?" | "+") {
            return Err(InterpolationError::Invalid {
                text: format!("${{{body}}}"),
            });
        }
        (&rest[..op_len], &rest[op_len..])
    };
    let empty = var.is_none_or(str::is_empty);
    let unset = var.is_none();
    let nested = |arg: &str| scan(arg, env, &mut Vec::new());
    let value = match op {
        "" => var.unwrap_or("").to_string(),
        ":-" if empty => nested(arg)?,
        "-" if unset => nested(arg)?,
        ":-" | "-" => var.unwrap_or("").to_string(),
        ":?" if empty => return Err(required(name, arg)),
        "?" if unset => return Err(required(name, arg)),
        ":?" | "?" => var.unwrap_or("").to_string(),
        ":+" if !empty => nested(arg)?,
        "+" if !unset => nested(arg)?,
        _ => String::new(),
    };
    let default = matches!(op, ":-" | "-").then(|| arg.to_string());
    Ok((
        value,
        Reference {
            name: name.to_string(),
            default,
            span,
        },
    ))
}

fn required(name: &str, message: &str) -> InterpolationError {
    InterpolationError::Required {
        name: name.to_string(),
        message: if message.is_empty() {
            "it is not set".to_string()
        } else {
            message.to_string()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        Env::from_pairs([("SET", "v"), ("EMPTY", ""), ("MEM", "4g")])
    }

    #[test]
    fn substitutes_every_form_like_compose() {
        let e = env();
        let cases = [
            ("$SET", "v"),
            ("${SET}", "v"),
            ("${UNSET}", ""),
            ("a-${SET}-b", "a-v-b"),
            ("${UNSET:-2g}", "2g"),
            ("${EMPTY:-2g}", "2g"),
            ("${EMPTY-2g}", ""),
            ("${MEM:-2g}", "4g"),
            ("${SET:+x}", "x"),
            ("${EMPTY:+x}", ""),
            ("${EMPTY+x}", "x"),
            ("${UNSET+x}", ""),
            ("$$SET", "$SET"),
            ("cost $ 5", "cost $ 5"),
            ("${UNSET:-${MEM}}", "4g"),
            ("${UNSET:-${ALSO:-1g}}", "1g"),
        ];
        for (text, want) in cases {
            assert_eq!(interpolate(text, &e).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn required_and_broken_references_are_errors() {
        let e = env();
        assert_eq!(
            interpolate("${UNSET:?set the db memory}", &e).unwrap_err(),
            InterpolationError::Required {
                name: "UNSET".into(),
                message: "set the db memory".into()
            }
        );
        assert!(matches!(
            interpolate("${EMPTY?x}", &e),
            Ok(s) if s.is_empty()
        ));
        assert_eq!(
            interpolate("${OPEN:-2g", &e).unwrap_err(),
            InterpolationError::Unclosed {
                name: "OPEN".into()
            }
        );
        assert!(matches!(
            interpolate("${1BAD}", &e),
            Err(InterpolationError::Invalid { .. })
        ));
        assert!(matches!(
            interpolate("${A*b}", &e),
            Err(InterpolationError::Invalid { .. })
        ));
    }

    #[test]
    fn references_name_each_variable_and_its_default() {
        let refs = references("x ${DB_MEMORY:-2g} $PORT ${A:-${B}}").unwrap();
        let got: Vec<_> = refs
            .iter()
            .map(|r| (r.name.as_str(), r.default.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("DB_MEMORY", Some("2g")),
                ("PORT", None),
                ("A", Some("${B}"))
            ]
        );
        assert_eq!(refs[0].span, 2..18);
        assert!(has_variables("${X}"));
        assert!(!has_variables("$$ plain"));
        assert!(has_variables("${OPEN"), "a broken reference still refers");
    }

    #[test]
    fn dot_env_lines_are_read_as_compose_reads_them() {
        let path = Path::new("/d/.env");
        let env = Env::parse_dot_env(
            path,
            "\u{feff}# comment\nA=1\nexport B = two\nC='lit $X'\nD=\"q\\\"x\"\nE=v # note\n\nbad line\n9X=no\n",
        );
        let value = |n: &str| env.get(n).map(|v| v.value.clone());
        assert_eq!(value("A").as_deref(), Some("1"));
        assert_eq!(value("B").as_deref(), Some("two"));
        assert_eq!(value("C").as_deref(), Some("lit $X"));
        assert_eq!(value("D").as_deref(), Some("q\"x"));
        assert_eq!(value("E").as_deref(), Some("v"));
        assert_eq!(value("9X"), None);
        assert_eq!(
            env.get("B").unwrap().source,
            Source::DotEnv {
                path: path.to_path_buf(),
                line: 3
            }
        );
    }
}
