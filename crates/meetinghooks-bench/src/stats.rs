//! Figures from send and arrival logs: rates, latency percentiles, missing and duplicates.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::load::SendLog;
use crate::receiver::Arrival;

#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub delivered: usize,
    pub missing: usize,
    pub duplicates: usize,
    /// Unique deliveries per second, from the first send to the last arrival.
    pub per_second: f64,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// The longest time without an arrival between the first and the last one.
    pub longest_pause: Duration,
}

/// `expected` lists the (path, participant) pairs that must arrive.
pub fn figures(
    sent: &SendLog,
    arrivals: &[Arrival],
    expected: &HashSet<(String, String)>,
    from: Option<Instant>,
) -> Figures {
    let mut seen: HashMap<(&str, &str), Instant> = HashMap::with_capacity(arrivals.len());
    let mut duplicates = 0;
    for a in arrivals {
        if seen.insert((&a.path, &a.key), a.at).is_some() {
            duplicates += 1;
        }
    }
    let delivered = expected
        .iter()
        .filter(|(p, k)| seen.contains_key(&(p.as_str(), k.as_str())))
        .count();
    let mut latencies: Vec<Duration> = seen
        .iter()
        .filter_map(|((_, key), at)| sent.get(*key).map(|s| at.saturating_duration_since(*s)))
        .collect();
    latencies.sort_unstable();
    let pct = |p: f64| -> Duration {
        if latencies.is_empty() {
            return Duration::ZERO;
        }
        latencies[((latencies.len() - 1) as f64 * p).round() as usize]
    };
    let start = from.or_else(|| sent.values().min().copied());
    let end = seen.values().max().copied();
    let per_second = match (start, end) {
        (Some(s), Some(e)) if e > s => delivered as f64 / e.duration_since(s).as_secs_f64(),
        _ => 0.0,
    };
    let mut times: Vec<Instant> = seen.values().copied().collect();
    times.sort_unstable();
    let longest_pause = times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .max()
        .unwrap_or_default();
    Figures {
        longest_pause,
        delivered,
        missing: expected.len() - delivered,
        duplicates,
        per_second,
        p50: pct(0.50),
        p90: pct(0.90),
        p99: pct(0.99),
        max: latencies.last().copied().unwrap_or_default(),
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
