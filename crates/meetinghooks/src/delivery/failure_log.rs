//! The operator's view of delivery failures: a warning per failed attempt, at most one per
//! endpoint per interval (the next one says how many were suppressed), "endpoint disabled"
//! always, and "endpoint recovered" once when an endpoint that failed succeeds again.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::store::{AttemptOutcome, NextStep};

/// At most one failure warning per endpoint in this long.
pub const WARN_INTERVAL: Duration = Duration::from_secs(10);
/// How much of an error answer's body the warning quotes.
const BODY_PREFIX_CHARS: usize = 80;

/// Per endpoint that failed since its last success: when it was last warned about.
#[derive(Debug)]
struct Failing {
    last_warned: Instant,
    /// Failures since `last_warned` that were not logged.
    suppressed: u64,
    /// Failures since the last success.
    failures: u64,
}

/// A map keyed by endpoint id; an entry lives from an endpoint's first failure to its next
/// success, or until the endpoint is deleted (`retain`).
#[derive(Debug)]
pub struct FailureLog {
    interval: Duration,
    failing: HashMap<String, Failing>,
}

impl FailureLog {
    pub fn new(interval: Duration) -> FailureLog {
        FailureLog {
            interval,
            failing: HashMap::new(),
        }
    }

    /// Counts a failure; `Some(suppressed)` when it is to be logged, with how many failures
    /// were not logged since the previous line.
    fn failed(&mut self, endpoint_id: &str, now: Instant) -> Option<u64> {
        match self.failing.get_mut(endpoint_id) {
            None => {
                self.failing.insert(
                    endpoint_id.to_owned(),
                    Failing {
                        last_warned: now,
                        suppressed: 0,
                        failures: 1,
                    },
                );
                Some(0)
            }
            Some(state) => {
                state.failures += 1;
                if now.duration_since(state.last_warned) >= self.interval {
                    state.last_warned = now;
                    Some(std::mem::take(&mut state.suppressed))
                } else {
                    state.suppressed += 1;
                    None
                }
            }
        }
    }

    /// Counts a success; `Some(failures)` when the endpoint had failed since its last success.
    fn succeeded(&mut self, endpoint_id: &str) -> Option<u64> {
        self.failing.remove(endpoint_id).map(|state| state.failures)
    }

    /// Forgets endpoints that no longer exist.
    pub fn retain(&mut self, exists: impl Fn(&str) -> bool) {
        self.failing.retain(|id, _| exists(id));
    }

    /// Logs a batch of outcomes once they are written; `disabled` are the endpoints the batch
    /// disabled, with the reason.
    pub fn report(&mut self, outcomes: &[AttemptOutcome], disabled: &[(String, String)]) {
        let now = Instant::now();
        let disabled_ids: HashSet<&str> = disabled.iter().map(|(id, _)| id.as_str()).collect();
        for o in outcomes {
            let Some(failure) = &o.failure else {
                if let Some(failures) = self.succeeded(&o.endpoint_id) {
                    tracing::info!(endpoint = o.endpoint_id, failures, "endpoint recovered");
                }
                continue;
            };
            let Some(suppressed) = self.failed(&o.endpoint_id, now) else {
                continue;
            };
            let next = if disabled_ids.contains(o.endpoint_id.as_str()) {
                "disabled".to_owned()
            } else {
                next_text(&o.next)
            };
            let reason = match o.status_code {
                Some(_) => with_body_prefix(&failure.reason, &o.response_body),
                None => failure.reason.clone(),
            };
            match o.status_code {
                Some(status) => tracing::warn!(
                    endpoint = o.endpoint_id,
                    message_id = o.message_id,
                    meeting = o.room_id,
                    attempt = o.attempt,
                    status,
                    reason,
                    next,
                    suppressed,
                    "delivery attempt failed"
                ),
                None => tracing::warn!(
                    endpoint = o.endpoint_id,
                    message_id = o.message_id,
                    meeting = o.room_id,
                    attempt = o.attempt,
                    error_kind = failure.kind,
                    reason,
                    next,
                    suppressed,
                    "delivery attempt failed"
                ),
            }
        }
        for (endpoint_id, reason) in disabled {
            tracing::warn!(endpoint = endpoint_id, reason, "endpoint disabled");
        }
    }
}

/// When the message is tried next, or why never.
fn next_text(next: &NextStep) -> String {
    match next {
        NextStep::RetryAt(at) => at.to_rfc3339(),
        NextStep::Exhausted => "exhausted".to_owned(),
        NextStep::Gone(_) => "disabled".to_owned(),
        NextStep::Succeeded => "none".to_owned(),
        // A failed manual resend leaves the message as it was.
        NextStep::Restore(status) => status.as_str().to_owned(),
    }
}

/// `http 500: <the first 80 characters of the body, on one line>`.
fn with_body_prefix(reason: &str, body: &str) -> String {
    let prefix: String = body
        .chars()
        .take(BODY_PREFIX_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match prefix.trim() {
        "" => reason.to_owned(),
        prefix => format!("{reason}: {prefix}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_then_the_count_of_those_suppressed() {
        let mut log = FailureLog::new(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(log.failed("ep_a", start), Some(0));
        for i in 1..=4 {
            assert_eq!(log.failed("ep_a", start + Duration::from_secs(i)), None);
        }
        // Another endpoint has its own allowance.
        assert_eq!(log.failed("ep_b", start), Some(0));
        assert_eq!(log.failed("ep_a", start + Duration::from_secs(10)), Some(4));
        assert_eq!(log.failed("ep_a", start + Duration::from_secs(11)), None);
    }

    #[test]
    fn a_success_after_failures_is_reported_once() {
        let mut log = FailureLog::new(Duration::from_secs(10));
        let start = Instant::now();
        log.failed("ep_a", start);
        log.failed("ep_a", start);
        assert_eq!(log.succeeded("ep_a"), Some(2));
        assert_eq!(log.succeeded("ep_a"), None);
        // After recovering, the next failure is logged at once.
        assert_eq!(log.failed("ep_a", start), Some(0));
    }

    #[test]
    fn deleted_endpoints_are_forgotten() {
        let mut log = FailureLog::new(Duration::from_secs(10));
        log.failed("ep_a", Instant::now());
        log.failed("ep_b", Instant::now());
        log.retain(|id| id == "ep_b");
        assert_eq!(log.succeeded("ep_a"), None);
        assert_eq!(log.succeeded("ep_b"), Some(1));
    }

    #[test]
    fn the_body_prefix_is_short_and_on_one_line() {
        let body = format!("oops\nline two {}", "x".repeat(200));
        let reason = with_body_prefix("http 500", &body);
        assert!(reason.starts_with("http 500: oops line two x"), "{reason}");
        assert_eq!(reason.chars().count(), "http 500: ".len() + 80);
        assert_eq!(with_body_prefix("http 500", "  "), "http 500");
    }
}
