//! Before and after a run: the doctor's figures in the journal (`SizingSnapshot`), from the
//! last window `doctor --record` kept before the run and from the window sampled during
//! verify, so that `xzup history` answers "did the upgrade help?".

use std::collections::BTreeMap;

use crate::journal::SizingSnapshot;
use crate::sizing::findings::Assessment;
use crate::sizing::record::{self, Line};
use crate::sizing::stats::Summary;

/// The snapshot of a window just assessed.
pub fn of_assessment(started: u64, a: &Assessment) -> SizingSnapshot {
    SizingSnapshot {
        at: started,
        samples: a.samples,
        cpu_p95: a
            .roles
            .iter()
            .filter_map(|r| Some((r.role, r.cores?.p95)))
            .collect(),
        memory_peak: a
            .roles
            .iter()
            .filter_map(|r| Some((r.role, r.memory_bytes?.max as u64)))
            .collect(),
        hit_rate: a.mysql.as_ref().and_then(|m| m.hit_rate),
        evicted_keys: a.redis.as_ref().and_then(|r| r.evicted_keys),
        round_trips_ms: a
            .http
            .iter()
            .filter_map(|p| Some((p.role, p.ms?)))
            .collect(),
    }
}

/// The snapshot of the last recorded window that began before `until` (seconds since the
/// epoch); `None` without one.
pub fn of_record(lines: &[Line], until: u64) -> Option<SizingSnapshot> {
    let window = lines
        .iter()
        .rev()
        .filter(|l| l.t < until)
        .find_map(|l| Some((l, l.w?)))?;
    let (w, secs) = window;
    // Its ticks: from its start to its end (the window line is written once it ends).
    let end = w.t + secs + 1;
    let mut usage: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for line in lines.iter().filter(|l| l.t >= w.t && l.t <= end) {
        for (role, pair) in line.u.iter().flatten() {
            usage.entry(*role).or_default().push(record::usage(*pair));
        }
    }
    Some(SizingSnapshot {
        at: w.t,
        samples: usage.values().map(Vec::len).max().unwrap_or(0),
        cpu_p95: usage
            .iter()
            .filter_map(|(r, u)| {
                let cores: Vec<f64> = u.iter().map(|u| u.cores).collect();
                Some((*r, Summary::of(&cores)?.p95))
            })
            .collect(),
        memory_peak: usage
            .iter()
            .filter_map(|(r, u)| Some((*r, u.iter().map(|u| u.memory).max()?)))
            .collect(),
        hit_rate: w.db.as_ref().and_then(|d| d.hit),
        evicted_keys: w.redis.as_ref().map(|r| r.ev),
        round_trips_ms: w.rt.clone().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::Role;

    #[test]
    fn the_last_window_before_the_run_with_its_ticks() {
        let lines: Vec<Line> = [
            r#"{"t":100,"u":{"db":[100,1024]}}"#,
            r#"{"t":100,"w":5,"db":{"hit":0.5,"pool":1},"redis":{"ev":9,"max":2}}"#,
            r#"{"t":200,"u":{"db":[300,1024]}}"#,
            r#"{"t":203,"u":{"db":[500,2048]}}"#,
            r#"{"t":200,"w":4,"db":{"hit":0.99,"pool":1},"redis":{"ev":2,"max":2},"rt":{"server":3.5}}"#,
            r#"{"t":900,"u":{"db":[900,1024]}}"#,
            r#"{"t":900,"w":4}"#,
        ]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
        let s = of_record(&lines, 500).unwrap();
        assert_eq!((s.at, s.samples), (200, 2));
        assert_eq!(s.cpu_p95[&Role::Db], 0.5);
        assert_eq!(s.memory_peak[&Role::Db], 2048 * 1024);
        assert_eq!((s.hit_rate, s.evicted_keys), (Some(0.99), Some(2)));
        assert_eq!(s.round_trips_ms[&Role::Server], 3.5);
        assert_eq!(of_record(&lines, 100), None);
    }
}
