//! A span-carrying TOML reader: a tiers file is parsed into `toml::de::DeTable`, whose
//! every key and value keeps its byte span, and walked by hand rather than through serde
//! derive, so that a value of the wrong type, a missing or unknown key, or a bad size is
//! reported at its own `FILE:LINE:COLUMN` with a message that says what to write instead.
//!
//! This file knows TOML and xzup's units, not tiers: which tables and keys a tiers file
//! has, and the rules their values meet, are in [`super::format`].

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::units::{Cpus, Memory, UnitError};

use super::{Location, TiersError};

pub(super) type Value<'i> = Spanned<DeValue<'i>>;
pub(super) type Key<'i> = Spanned<std::borrow::Cow<'i, str>>;

/// Walks a parsed tiers file, turning each value into its type or an error at its place.
pub(super) struct Reader<'t> {
    origin: String,
    text: &'t str,
}

impl<'t> Reader<'t> {
    pub(super) fn new(origin: String, text: &'t str) -> Reader<'t> {
        Reader { origin, text }
    }

    /// The text as a TOML tree whose keys and values keep their spans.
    pub(super) fn document(&self) -> Result<Spanned<DeTable<'t>>, TiersError> {
        DeTable::parse(self.text).map_err(|e| TiersError::Syntax {
            at: self.at(e.span().unwrap_or(0..0)),
            message: e.message().trim().to_string(),
        })
    }

    /// Boxed: errors carry it, and a small error type keeps every `Result` small.
    pub(super) fn at(&self, span: Range<usize>) -> Box<Location> {
        Box::new(Location::locate(&self.origin, self.text, span.start))
    }

    pub(super) fn check_keys(
        &self,
        table: &DeTable<'_>,
        path: &str,
        allowed: &'static [&'static str],
    ) -> Result<(), TiersError> {
        match sorted(table)
            .into_iter()
            .find(|(k, _)| !allowed.contains(&k.get_ref().as_ref()))
        {
            Some((k, _)) => Err(self.unknown_key(k, path, allowed)),
            None => Ok(()),
        }
    }

    pub(super) fn unknown_key(
        &self,
        key: &Key<'_>,
        path: &str,
        allowed: &'static [&'static str],
    ) -> TiersError {
        TiersError::UnknownKey {
            at: self.at(key.span()),
            key: key.get_ref().to_string(),
            table: path.to_string(),
            allowed,
        }
    }

    /// `key` in `table`, or an error at the key that names the table.
    pub(super) fn require<'a, 'i>(
        &self,
        table: &'a DeTable<'i>,
        key: &'static str,
        table_key: &Key<'_>,
        path: &str,
        example: &'static str,
    ) -> Result<(&'a Key<'i>, &'a Value<'i>), TiersError> {
        table
            .get_key_value(key)
            .ok_or_else(|| TiersError::MissingKey {
                at: self.at(table_key.span()),
                table: path.to_string(),
                key,
                example,
            })
    }

    /// `example` is a value (`"8G"`, written as `memory = "8G"` in the hint) or a table
    /// header (`[tiers.high]`, written as is).
    pub(super) fn wrong_type(
        &self,
        value: &Value<'_>,
        key: &str,
        expected: &'static str,
        example: &str,
    ) -> TiersError {
        let example = if example.starts_with('[') && !example.starts_with("[\"") {
            example.to_string()
        } else {
            format!("{} = {example}", key.rsplit('.').next().unwrap_or(key))
        };
        TiersError::WrongType {
            at: self.at(value.span()),
            key: key.to_string(),
            expected,
            found: article(value.get_ref().type_str()),
            example,
        }
    }

    pub(super) fn table<'a, 'i>(
        &self,
        value: &'a Value<'i>,
        key: &str,
        example: &str,
    ) -> Result<&'a DeTable<'i>, TiersError> {
        match value.get_ref() {
            DeValue::Table(table) => Ok(table),
            _ => Err(self.wrong_type(value, key, "a table", example)),
        }
    }

    pub(super) fn string<'a>(
        &self,
        value: &'a Value<'_>,
        key: &str,
        example: &'static str,
    ) -> Result<&'a str, TiersError> {
        match value.get_ref() {
            DeValue::String(s) => Ok(s.as_ref()),
            _ => Err(self.wrong_type(value, key, "a string", example)),
        }
    }

    pub(super) fn optional_string(
        &self,
        table: &DeTable<'_>,
        key: &str,
        path: &str,
        example: &'static str,
    ) -> Result<Option<String>, TiersError> {
        table
            .get(key)
            .map(|v| {
                self.string(v, &format!("{path}.{key}"), example)
                    .map(str::to_string)
            })
            .transpose()
    }

    pub(super) fn integer(
        &self,
        value: &Value<'_>,
        key: &str,
        example: &'static str,
    ) -> Result<i64, TiersError> {
        let DeValue::Integer(int) = value.get_ref() else {
            return Err(self.wrong_type(value, key, "a whole number", example));
        };
        i64::from_str_radix(int.as_str(), int.radix()).map_err(|_| TiersError::BadValue {
            at: self.at(value.span()),
            key: key.to_string(),
            text: int.to_string(),
            what: "number",
            expected: "write a smaller whole number".into(),
        })
    }

    /// A cpus value: `4`, `0.5` or `"4"` (as Compose files quote it).
    pub(super) fn cpus(&self, value: &Value<'_>, key: &str) -> Result<Spanned<Cpus>, TiersError> {
        let text = match value.get_ref() {
            DeValue::Integer(int) => i64::from_str_radix(int.as_str(), int.radix())
                .map_or_else(|_| int.to_string(), |n| n.to_string()),
            DeValue::Float(float) => float.as_str().to_string(),
            DeValue::String(s) => s.to_string(),
            _ => return Err(self.wrong_type(value, key, "a number of cores", "4")),
        };
        let cpus = Cpus::parse(&text).map_err(|e| self.bad_unit(value, key, e))?;
        Ok(Spanned::new(value.span(), cpus))
    }

    /// A size in quotes, read with `parse` (Compose, MySQL or Redis rules); never zero.
    pub(super) fn size(
        &self,
        value: &Value<'_>,
        key: &str,
        example: &'static str,
        parse: fn(&str) -> Result<Memory, UnitError>,
    ) -> Result<Spanned<Memory>, TiersError> {
        let text = self.string(value, key, example)?;
        let memory = parse(text).map_err(|e| self.bad_unit(value, key, e))?;
        if memory.bytes == 0 {
            return Err(TiersError::BadValue {
                at: self.at(value.span()),
                key: key.to_string(),
                text: text.to_string(),
                what: "size",
                expected: format!("write a size above zero, like {example}"),
            });
        }
        Ok(Spanned::new(value.span(), memory))
    }

    pub(super) fn bad_unit(&self, value: &Value<'_>, key: &str, error: UnitError) -> TiersError {
        TiersError::BadValue {
            at: self.at(value.span()),
            key: key.to_string(),
            text: error.text,
            what: error.what,
            expected: error.expected.to_string(),
        }
    }
}

/// A table's entries in file order (the map itself is sorted by key).
pub(super) fn sorted<'a, 'i>(table: &'a DeTable<'i>) -> Vec<(&'a Key<'i>, &'a Value<'i>)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

fn article(type_name: &'static str) -> &'static str {
    match type_name {
        "string" => "a string",
        "integer" => "an integer",
        "float" => "a float",
        "boolean" => "a boolean",
        "datetime" => "a datetime",
        "array" => "an array",
        "table" => "a table",
        other => other,
    }
}
