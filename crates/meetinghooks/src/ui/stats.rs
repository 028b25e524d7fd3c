//! Delivery figures from the attempt log, as pure code: per-bucket counts for the charts,
//! success rates and latency percentiles for endpoint health.

use crate::domain::timestamp::Timestamp;
use crate::store::dashboard::AttemptLogEntry;

/// Attempts in one time slice of a chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub start: Timestamp,
    pub succeeded: u64,
    pub failed: u64,
}

impl Bucket {
    pub fn total(&self) -> u64 {
        self.succeeded + self.failed
    }
}

/// The window a chart covers: `count` slices of `width_ms` from `from`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from: Timestamp,
    pub width_ms: i64,
    pub count: usize,
}

impl Window {
    /// The `count` slices of `width_ms` that end at `now`.
    pub fn ending(now: Timestamp, width_ms: i64, count: usize) -> Window {
        Window {
            from: Timestamp(now.0 - width_ms * count as i64),
            width_ms,
            count,
        }
    }
}

/// Counts attempts per slice; attempts outside the window are left out.
pub fn buckets<'a>(
    attempts: impl IntoIterator<Item = &'a AttemptLogEntry>,
    window: Window,
) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = (0..window.count)
        .map(|i| Bucket {
            start: Timestamp(window.from.0 + window.width_ms * i as i64),
            succeeded: 0,
            failed: 0,
        })
        .collect();
    for attempt in attempts {
        let offset = attempt.attempted_at.0 - window.from.0;
        if offset < 0 {
            continue;
        }
        let Some(bucket) = out.get_mut((offset / window.width_ms) as usize) else {
            continue;
        };
        if attempt.succeeded() {
            bucket.succeeded += 1;
        } else {
            bucket.failed += 1;
        }
    }
    out
}

/// An endpoint's recent attempts, summed up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Health {
    pub attempts: u64,
    pub succeeded: u64,
    pub p50_ms: Option<u64>,
    pub p99_ms: Option<u64>,
}

impl Health {
    pub fn of<'a>(attempts: impl IntoIterator<Item = &'a AttemptLogEntry>) -> Health {
        let mut durations = Vec::new();
        let mut succeeded = 0;
        for attempt in attempts {
            durations.push(attempt.duration_ms);
            succeeded += u64::from(attempt.succeeded());
        }
        durations.sort_unstable();
        Health {
            attempts: durations.len() as u64,
            succeeded,
            p50_ms: percentile(&durations, 50),
            p99_ms: percentile(&durations, 99),
        }
    }

    /// Percent of attempts that succeeded; `None` without attempts.
    pub fn success_percent(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.succeeded as f64 * 100.0 / self.attempts as f64)
    }
}

/// The nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[u64], p: u32) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p as usize * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// `97.5%`, or a dash without attempts.
pub fn percent_text(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}%"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(at: i64, status: Option<u16>, duration_ms: u64) -> AttemptLogEntry {
        AttemptLogEntry {
            id: at,
            message_id: "msg".into(),
            endpoint_id: "ep".into(),
            meeting_id: "m".into(),
            webhook_type: "t".into(),
            attempted_at: Timestamp(at),
            duration_ms,
            status_code: status,
            error_kind: status.is_none().then(|| "connect".into()),
        }
    }

    #[test]
    fn attempts_fall_in_their_slice_and_outcomes_are_told_apart() {
        let log = [
            attempt(999, Some(200), 1),
            attempt(1_000, Some(200), 1),
            attempt(1_999, Some(500), 1),
            attempt(2_000, None, 1),
            attempt(3_000, Some(204), 1),
        ];
        let window = Window {
            from: Timestamp(1_000),
            width_ms: 1_000,
            count: 2,
        };
        let b = buckets(&log, window);
        assert_eq!((b[0].succeeded, b[0].failed), (1, 1));
        assert_eq!((b[1].succeeded, b[1].failed), (0, 1));
        assert_eq!(b[1].start, Timestamp(2_000));
    }

    #[test]
    fn health_sums_up_rate_and_percentiles() {
        let log: Vec<_> = (1..=100)
            .map(|i| attempt(i, if i % 4 == 0 { Some(500) } else { Some(200) }, i as u64))
            .collect();
        let health = Health::of(&log);
        assert_eq!(health.attempts, 100);
        assert_eq!(health.succeeded, 75);
        assert_eq!(health.p50_ms, Some(50));
        assert_eq!(health.p99_ms, Some(99));
        assert_eq!(percent_text(health.success_percent()), "75.0%");
        assert_eq!(Health::of(&[]).success_percent(), None);
    }

    #[test]
    fn percentiles_of_few_values() {
        assert_eq!(percentile(&[7], 99), Some(7));
        assert_eq!(percentile(&[1, 2], 50), Some(1));
        assert_eq!(percentile(&[], 50), None);
    }
}
