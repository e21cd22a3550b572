//! The arithmetic of sizing: percentiles of a series of samples, and the growth of a
//! counter over a window when the process behind it may have restarted in between.

use serde::{Deserialize, Serialize};

/// p50, p95 and the maximum of a series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
    /// How many samples it summarises.
    pub n: usize,
}

impl Summary {
    /// `None` for an empty series.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        Some(Summary {
            p50: nearest_rank(&sorted, 50.0),
            p95: nearest_rank(&sorted, 95.0),
            max: *sorted.last().expect("not empty"),
            n: sorted.len(),
        })
    }

    /// Every figure multiplied by `factor` (a share of a limit from an absolute usage).
    pub fn scaled(self, factor: f64) -> Summary {
        Summary {
            p50: self.p50 * factor,
            p95: self.p95 * factor,
            max: self.max * factor,
            n: self.n,
        }
    }
}

/// The nearest-rank percentile of sorted values: the smallest value such that at least
/// `p`% of the samples are at or below it (so p95 of 10 samples is the 10th, the maximum;
/// it never invents a value no sample had). KRR and VPA use the same definition.
pub fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// One reading of a counter that only grows while its process lives, with the process's
/// uptime (seconds) when known: a counter that went down, or an uptime that did, means the
/// process restarted and its counters began again at 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    pub value: u64,
    pub uptime: Option<u64>,
}

/// How much a counter grew over a series of readings, oldest first. Across a restart the
/// growth is what the new process counted (its value at the first reading after it), never
/// a negative difference nor the lifetime total of the first reading. `None` with fewer
/// than two readings.
pub fn counter_delta(readings: &[Reading]) -> Option<u64> {
    if readings.len() < 2 {
        return None;
    }
    let mut total: u64 = 0;
    for pair in readings.windows(2) {
        let (before, after) = (pair[0], pair[1]);
        let restarted = after.value < before.value
            || matches!((before.uptime, after.uptime), (Some(b), Some(a)) if a < b);
        total = total.saturating_add(if restarted {
            after.value
        } else {
            after.value - before.value
        });
    }
    Some(total)
}

/// `part / whole`, `None` when `whole` is 0.
pub fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(value: u64, uptime: u64) -> Reading {
        Reading {
            value,
            uptime: Some(uptime),
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        let s = Summary::of(&values).unwrap();
        assert_eq!((s.p50, s.p95, s.max, s.n), (10.0, 19.0, 20.0, 20));
        // Order does not matter; p95 of fewer than 20 samples is the maximum.
        let s = Summary::of(&[0.3, 0.1, 0.9, 0.2]).unwrap();
        assert_eq!((s.p50, s.p95, s.max), (0.2, 0.9, 0.9));
        let one = Summary::of(&[0.5]).unwrap();
        assert_eq!((one.p50, one.p95, one.max), (0.5, 0.5, 0.5));
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[f64::NAN]), None);
    }

    #[test]
    fn a_scaled_summary_keeps_its_count() {
        let s = Summary::of(&[1.0, 2.0]).unwrap().scaled(0.5);
        assert_eq!((s.p50, s.p95, s.max, s.n), (0.5, 1.0, 1.0, 2));
    }

    #[test]
    fn delta_is_the_growth_over_the_window_not_the_lifetime_total() {
        assert_eq!(
            counter_delta(&[r(1000, 50), r(1010, 52), r(1100, 54)]),
            Some(100)
        );
        assert_eq!(counter_delta(&[r(5, 1), r(5, 2)]), Some(0));
        assert_eq!(counter_delta(&[r(5, 1)]), None);
        assert_eq!(counter_delta(&[]), None);
    }

    #[test]
    fn a_restart_counts_what_the_new_process_counted() {
        // 1000 → 1040 (+40), restart, 7 (+7), 20 (+13).
        assert_eq!(
            counter_delta(&[r(1000, 500), r(1040, 502), r(7, 1), r(20, 3)]),
            Some(60)
        );
        // The counter passed its old value again, but the uptime went down: a restart.
        assert_eq!(counter_delta(&[r(10, 500), r(30, 2)]), Some(30));
        // Without an uptime only a drop tells.
        let no_uptime = |value| Reading {
            value,
            uptime: None,
        };
        assert_eq!(
            counter_delta(&[no_uptime(10), no_uptime(3), no_uptime(9)]),
            Some(9)
        );
    }

    #[test]
    fn ratio_of_nothing_is_none() {
        assert_eq!(ratio(1, 4), Some(0.25));
        assert_eq!(ratio(0, 0), None);
    }
}
