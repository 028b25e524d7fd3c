//! Turning an attempt into an outcome: the message's next step, the metrics it counts.

use std::time::Duration;

use super::{attempt, schedule, DeliveryConfig};
use crate::domain::endpoint::Endpoint;
use crate::store::{AttemptOutcome, Leased, MessageStatus, NextStep};

/// Turns an attempt into the message's next step, and counts it.
pub fn decide(
    config: &DeliveryConfig,
    endpoint: &Endpoint,
    leased: &Leased,
    attempt: &attempt::Attempt,
) -> AttemptOutcome {
    let (status_code, error_kind, body, retry_after) = match &attempt.result {
        attempt::Result::Answered {
            status,
            body,
            retry_after,
        } => (Some(*status), None, body.clone(), *retry_after),
        attempt::Result::NoAnswer { kind, detail, .. } => {
            (None, Some(*kind), truncate(detail), None)
        }
    };
    let label = match (status_code, error_kind) {
        (Some(s), _) => ["1xx", "2xx", "3xx", "4xx", "5xx"]
            .get((s / 100).saturating_sub(1) as usize)
            .copied()
            .unwrap_or("other"),
        (None, Some(kind)) => kind,
        (None, None) => "unknown",
    };
    metrics::counter!("meetinghooks_attempts_total", "outcome" => label).increment(1);
    let finished = attempt
        .started_at
        .plus_millis(schedule::saturating_millis(attempt.duration));
    let next = match status_code {
        Some(200..=299) => {
            let latency = (finished.0 - leased.event_created_at.0).max(0) as f64 / 1000.0;
            metrics::histogram!("meetinghooks_delivery_latency_seconds").record(latency);
            NextStep::Succeeded
        }
        Some(410) => NextStep::Gone("the endpoint answered 410 Gone".into()),
        _ => match leased.resend_of {
            Some(previous) if previous != MessageStatus::Pending => NextStep::Restore(previous),
            _ => {
                let schedule = endpoint.retry_schedule.as_ref().map(|s| {
                    s.iter()
                        .map(|ms| Duration::from_millis(*ms))
                        .collect::<Vec<_>>()
                });
                let schedule = schedule.as_deref().unwrap_or(&config.retry_schedule);
                schedule::after_failure(
                    leased.attempts + 1,
                    schedule,
                    config.jitter,
                    retry_after,
                    finished,
                )
            }
        },
    };
    AttemptOutcome {
        message_id: leased.message_id.clone(),
        position: leased.position,
        lease_until: leased.lease_until,
        endpoint_id: leased.endpoint_id.clone(),
        room_id: leased.room_id.clone(),
        ordered: leased.ordered,
        attempt: leased.attempts + 1,
        attempted_at: attempt.started_at,
        duration_ms: u64::try_from(attempt.duration.as_millis()).unwrap_or(u64::MAX),
        status_code,
        error_kind,
        failure: attempt.result.failure(),
        response_body: body,
        next,
    }
}

pub fn truncate(text: &str) -> String {
    text.chars().take(1024).collect()
}
