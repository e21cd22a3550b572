//! Times in xzup's state files and on screen.
//!
//! Files hold UTC in RFC 3339 (`2026-11-25T19:30:00.123Z`), so a journal reads the same
//! whatever the host's time zone; people read local time. chrono is built without its
//! `serde` feature, so the two serde helpers live here.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// The time now, to the millisecond: what a file keeps, so a value read back equals the
/// value written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// A time as the operator reads it: local time, to the second.
pub fn display_time(time: &DateTime<Utc>) -> String {
    time.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A duration written short: `0.8s`, `12.3s`, `2m05s`, `1h02m`.
pub fn display_duration(ms: u64) -> String {
    if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        let secs = ms / 1000;
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        let mins = ms / 60_000;
        format!("{}h{:02}m", mins / 60, mins % 60)
    }
}

/// Milliseconds from `from` to `to`, zero when the clock went backwards.
pub fn millis_between(from: &DateTime<Utc>, to: &DateTime<Utc>) -> u64 {
    u64::try_from((*to - *from).num_milliseconds()).unwrap_or(0)
}

fn to_text(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn from_text<'de, D: Deserializer<'de>>(text: &str) -> Result<DateTime<Utc>, D::Error> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| serde::de::Error::custom(format!("`{text}` is not an RFC 3339 time: {e}")))
}

/// `#[serde(with = "rfc3339")]` for a `DateTime<Utc>`.
pub mod rfc3339 {
    use super::*;

    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_text(time))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        from_text::<D>(&text)
    }
}

/// `#[serde(with = "rfc3339_opt", default)]` for an `Option<DateTime<Utc>>`.
pub mod rfc3339_opt {
    use super::*;

    pub fn serialize<S: Serializer>(time: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match time {
            Some(t) => s.serialize_some(&to_text(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => from_text::<D>(&text).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_short() {
        assert_eq!(display_duration(0), "0.0s");
        assert_eq!(display_duration(840), "0.8s");
        assert_eq!(display_duration(12_345), "12.3s");
        assert_eq!(display_duration(59_999), "60.0s");
        assert_eq!(display_duration(125_000), "2m05s");
        assert_eq!(display_duration(3_720_000), "1h02m");
    }

    #[test]
    fn times_round_trip_through_json() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct T {
            #[serde(with = "rfc3339")]
            at: DateTime<Utc>,
            #[serde(with = "rfc3339_opt", default)]
            end: Option<DateTime<Utc>>,
        }
        let t = T {
            at: "2026-11-25T19:30:00.5Z".parse().unwrap(),
            end: None,
        };
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(text, r#"{"at":"2026-11-25T19:30:00.500Z","end":null}"#);
        assert_eq!(serde_json::from_str::<T>(&text).unwrap(), t);
        // Another offset is read and kept as the same instant.
        let other: T = serde_json::from_str(r#"{"at":"2026-11-26T03:30:00+08:00"}"#).unwrap();
        assert_eq!(
            other.at,
            "2026-11-25T19:30:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let bad = serde_json::from_str::<T>(r#"{"at":"yesterday"}"#).unwrap_err();
        assert!(
            bad.to_string()
                .contains("`yesterday` is not an RFC 3339 time")
        );
    }
}
