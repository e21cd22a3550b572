//! `doctor --record`: the samples of each window appended to `.xzup/usage/samples.jsonl`
//! (0600 in a 0700 dir), so that `recommend` can judge days of use rather than one window.
//!
//! One JSON line per tick, compact — `{"t":1764657000,"u":{"db":[812,393216]}}`: the time,
//! then per role the cores busy in thousandths and the memory in KiB (what a role *uses*,
//! whatever its limit was, so that a record stays meaningful across tier changes) — and one
//! line per window with the counters that only mean something over a window:
//! `{"t":…,"w":60,"db":{"hit":0.991,"data":…,"pool":…},"redis":{"ev":12,"max":…}}`.
//!
//! Bounded: once the file would pass [`MAX_FILE`] it becomes `samples.1.jsonl` (replacing
//! the older one) and a new file begins, so the record never takes more than twice that.
//! A line cut short (a crash mid-write) is skipped when read.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::roles::Role;
use crate::sizing::findings::Assessment;
use crate::sizing::sample::{Usage, Window};

/// The size at which the record rotates (a week of 5 s ticks of four roles fits in two).
pub const MAX_FILE: u64 = 16 << 20;
const CURRENT: &str = "samples.jsonl";
const ROTATED: &str = "samples.1.jsonl";

/// One line of the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub t: u64,
    /// A tick: role → [millicores, KiB].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u: Option<BTreeMap<Role, [u64; 2]>>,
    /// A window's length in seconds (on a window line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<DbLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisLine>,
    /// A window's HTTP round-trips, ms per role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rt: Option<BTreeMap<Role, f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbLine {
    /// Buffer pool hit rate over the window, when it had reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hit: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<u64>,
    pub pool: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedisLine {
    /// Keys evicted in the window.
    pub ev: u64,
    pub max: u64,
}

/// `.xzup/usage/` of a deployment's state dir.
pub fn usage_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("usage")
}

/// The lines for one window: its ticks, then the window line.
pub fn lines(window: &Window, assessment: &Assessment) -> Vec<Line> {
    let mut out: Vec<Line> = window
        .ticks
        .iter()
        .filter(|t| !t.usage.is_empty())
        .map(|t| Line {
            t: t.at,
            u: Some(t.usage.iter().map(|(r, u)| (*r, compact(u))).collect()),
            w: None,
            db: None,
            redis: None,
            rt: None,
        })
        .collect();
    out.push(Line {
        t: window.started,
        u: None,
        w: Some(window.secs.round() as u64),
        db: assessment.mysql.as_ref().map(|m| DbLine {
            hit: m.hit_rate.map(|h| (h * 1000.0).round() / 1000.0),
            data: m.data_bytes,
            pool: m.pool_bytes,
        }),
        redis: assessment.redis.as_ref().and_then(|r| {
            r.evicted_keys.map(|ev| RedisLine {
                ev,
                max: r.maxmemory,
            })
        }),
        rt: {
            let rt: BTreeMap<Role, f64> = assessment
                .http
                .iter()
                .filter_map(|p| Some((p.role, (p.ms? * 10.0).round() / 10.0)))
                .collect();
            (!rt.is_empty()).then_some(rt)
        },
    });
    out
}

fn compact(u: &Usage) -> [u64; 2] {
    [(u.cores * 1000.0).round() as u64, u.memory.div_ceil(1024)]
}

/// What a tick line holds, as a [`Usage`] again.
pub fn usage(pair: [u64; 2]) -> Usage {
    Usage {
        cores: pair[0] as f64 / 1000.0,
        memory: pair[1] * 1024,
    }
}

/// Appends `lines` to the record in `dir` (created 0700), rotating first when it would
/// pass `max` bytes. Returns the path written.
pub fn append(dir: &Path, lines: &[Line], max: u64) -> io::Result<PathBuf> {
    crate::fsutil::ensure_private_dir(dir)?;
    let mut text = String::new();
    for line in lines {
        text.push_str(&serde_json::to_string(line).map_err(io::Error::other)?);
        text.push('\n');
    }
    let path = dir.join(CURRENT);
    let size = fs::metadata(&path).map_or(0, |m| m.len());
    if size > 0 && size + text.len() as u64 > max {
        fs::rename(&path, dir.join(ROTATED))?;
    }
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)?;
    // One write: lines of concurrent doctors do not interleave within a line.
    file.write_all(text.as_bytes())?;
    file.sync_data()?;
    Ok(path)
}

/// Every readable line of the record, oldest first; an empty list without a record.
pub fn read(dir: &Path) -> io::Result<Vec<Line>> {
    let mut out = Vec::new();
    for name in [ROTATED, CURRENT] {
        let text = match fs::read_to_string(dir.join(name)) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        out.extend(
            text.lines()
                .filter_map(|l| serde_json::from_str::<Line>(l).ok()),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tick(t: u64, mcores: u64) -> Line {
        Line {
            t,
            u: Some(BTreeMap::from([(Role::Db, [mcores, 393216])])),
            w: None,
            db: None,
            redis: None,
            rt: None,
        }
    }

    #[test]
    fn a_tick_line_is_compact() {
        let text = serde_json::to_string(&tick(1764657000, 812)).unwrap();
        assert_eq!(text, r#"{"t":1764657000,"u":{"db":[812,393216]}}"#);
        let back: Line = serde_json::from_str(&text).unwrap();
        assert_eq!(usage(back.u.unwrap()[&Role::Db]).cores, 0.812);
    }

    #[test]
    fn appended_owner_only_rotated_at_the_bound_and_read_back_in_order() {
        let state = tempfile::tempdir().unwrap();
        let dir = usage_dir(state.path());
        let line_len = serde_json::to_string(&tick(1, 1)).unwrap().len() as u64 + 1;
        let max = line_len * 3;
        for t in 1..=7 {
            append(&dir, &[tick(t, t)], max).unwrap();
        }
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(CURRENT)), 0o600);
        // 7 lines, 3 to a file: 1-3 rotated away, 4-6 rotated, 7 current.
        let times: Vec<u64> = read(&dir).unwrap().iter().map(|l| l.t).collect();
        assert_eq!(times, vec![4, 5, 6, 7]);
        assert!(fs::metadata(dir.join(CURRENT)).unwrap().len() <= max);
        assert!(fs::metadata(dir.join(ROTATED)).unwrap().len() <= max);
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), &[tick(1, 5)], MAX_FILE).unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(CURRENT))
            .unwrap();
        f.write_all(b"{\"t\":2,\"u\":{\"db\":[").unwrap();
        assert_eq!(read(dir.path()).unwrap(), vec![tick(1, 5)]);
        assert!(read(&dir.path().join("none")).unwrap().is_empty());
    }
}
