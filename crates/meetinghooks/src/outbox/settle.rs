//! Settling attempt outcomes: where each leaves its message, the endpoint's failing and
//! success clocks, auto-disable and 410, and which queues a batch frees.

use std::collections::{BTreeMap, BTreeSet};

use super::{AttemptOutcome, LeaseKey, MessageStatus, NextStep, Promotion, QueueKey};
use crate::domain::timestamp::Timestamp;

/// Whether settling this step needs the endpoint's failing clock (and starts it).
pub fn counts_as_failure(next: &NextStep) -> bool {
    !matches!(next, NextStep::Succeeded | NextStep::Restore(_))
}

/// Where an outcome leaves its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    pub status: MessageStatus,
    pub due_at: Timestamp,
    /// The outcome disables the endpoint, for this reason.
    pub disable_reason: Option<String>,
}

/// Settles an outcome. `failing` is the endpoint's `(failing_since, disabled)` after this
/// failure was counted; `None` for a success or an endpoint that no longer exists.
pub fn settle(
    outcome: &AttemptOutcome,
    failing: Option<(Timestamp, bool)>,
    auto_disable_after_ms: i64,
) -> Settlement {
    let mut next = outcome.next.clone();
    let mut disable_reason = None;
    if let Some((since, disabled)) = failing.filter(|_| counts_as_failure(&next)) {
        disable_reason = match &next {
            NextStep::Gone(reason) => Some(reason.clone()),
            _ if outcome.attempted_at.0 - since.0 >= auto_disable_after_ms => Some(format!(
                "no successful delivery since {}",
                since.to_rfc3339()
            )),
            _ => None,
        };
        // A disabled endpoint keeps the message, as skipped, instead of retrying.
        if (disabled || disable_reason.is_some()) && matches!(next, NextStep::RetryAt(_)) {
            next = NextStep::Restore(MessageStatus::Skipped);
        }
    }
    let at = outcome.attempted_at;
    let (status, due_at) = match &next {
        NextStep::Succeeded => (MessageStatus::Succeeded, at),
        NextStep::RetryAt(retry) => (MessageStatus::Pending, *retry),
        NextStep::Exhausted => (MessageStatus::Exhausted, at),
        NextStep::Gone(_) => (MessageStatus::Failed, at),
        NextStep::Restore(status) => (*status, at),
    };
    Settlement {
        status,
        due_at,
        disable_reason,
    }
}

impl Settlement {
    /// A finished message lets its (endpoint, meeting) queue move on. Promotion runs whatever
    /// the message's own flag: the queue may hold ordered messages after an ordering change.
    pub fn frees_queue(&self) -> bool {
        !matches!(self.status, MessageStatus::Pending | MessageStatus::Waiting)
    }
}

/// An endpoint's delivery state as a batch of outcomes starts; read under its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndpointClock {
    pub failing_since: Option<Timestamp>,
    pub disabled: bool,
}

/// What settling a batch reads.
pub struct OutcomeInput<'a> {
    pub outcomes: &'a [AttemptOutcome],
    /// The leases the batch names that are still their message's (`delivering`, same end).
    pub owned: &'a BTreeSet<LeaseKey>,
    /// The batch's endpoints; an endpoint missing here was deleted.
    pub clocks: &'a BTreeMap<String, EndpointClock>,
    pub auto_disable_after_ms: i64,
}

/// One attempt log row; every outcome gets one, owned or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow<'a> {
    pub position: i64,
    pub attempted_at: Timestamp,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    pub error_kind: Option<&'static str>,
    pub response_body: &'a str,
}

/// A message an owned outcome settles. Executors still write it only `WHERE status =
/// 'delivering' AND due_at = lease_until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledMessage<'a> {
    pub position: i64,
    pub lease_until: Timestamp,
    pub status: MessageStatus,
    pub due_at: Timestamp,
    pub attempted_at: Timestamp,
    pub status_code: Option<u16>,
    pub error: Option<&'a str>,
    pub error_kind: Option<&'static str>,
}

/// An endpoint whose failing clock this batch starts (`failing_since` was empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailingStart<'a> {
    pub endpoint_id: &'a str,
    pub since: Timestamp,
}

/// An endpoint that delivered: `last_success_at = at`, its failing clock stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Success<'a> {
    pub endpoint_id: &'a str,
    pub at: Timestamp,
}

/// An endpoint this batch disables (410 or auto-disable); its queued messages are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disable<'a> {
    pub endpoint_id: &'a str,
    pub reason: String,
    pub at: Timestamp,
}

/// The writes of a batch, in the order every store executes them: attempts, settled
/// messages, failing clocks, promotion of `freed` (see [`OutcomePlan::promotion`]), disables
/// (after promotion, so every queued message of a disabled endpoint is skipped), successes.
#[derive(Debug, Default)]
pub struct OutcomePlan<'a> {
    pub attempts: Vec<AttemptRow<'a>>,
    pub settled: Vec<SettledMessage<'a>>,
    pub failing_started: Vec<FailingStart<'a>>,
    /// Queues a finished message lets move on, with the time of the first outcome freeing it.
    pub freed: BTreeMap<QueueKey<'a>, Timestamp>,
    pub disable: Vec<Disable<'a>>,
    /// One per endpoint, the latest success of the batch.
    pub succeeded: Vec<Success<'a>>,
    /// Messages of outcomes whose lease was taken over: logged only.
    pub lost: Vec<&'a str>,
    /// Endpoints that exist and are enabled after this batch: only those get leases.
    enabled_after: BTreeSet<&'a str>,
}

impl OutcomePlan<'_> {
    /// What a message promoted in one of `endpoint_id`'s freed queues becomes, given the
    /// lease the caller asked promoted messages to get.
    pub fn promotion(&self, grant: Option<Timestamp>, endpoint_id: &str) -> Promotion {
        match grant {
            Some(until) if self.enabled_after.contains(endpoint_id) => Promotion::Lease(until),
            _ => Promotion::DueNow,
        }
    }
}

/// Settles a batch of outcomes in order. Only an outcome under the lease it was made with
/// counts (once: a second outcome of the same lease is stale); the others are logged as
/// attempts and move no clock. Later outcomes see the clocks earlier ones moved.
pub fn plan_outcomes(input: OutcomeInput<'_>) -> OutcomePlan<'_> {
    let mut plan = OutcomePlan::default();
    let mut clocks: BTreeMap<&str, EndpointClock> = input
        .clocks
        .iter()
        .map(|(id, clock)| (id.as_str(), *clock))
        .collect();
    let mut live = input.owned.clone();
    let mut succeeded: BTreeMap<&str, Timestamp> = BTreeMap::new();
    for o in input.outcomes {
        let position = o.position;
        plan.attempts.push(AttemptRow {
            position,
            attempted_at: o.attempted_at,
            duration_ms: o.duration_ms,
            status_code: o.status_code,
            error_kind: o.error_kind,
            response_body: &o.response_body,
        });
        let lease = LeaseKey {
            position,
            lease_until: o.lease_until,
        };
        if !live.remove(&lease) {
            plan.lost.push(&o.message_id);
            continue;
        };
        let endpoint = o.endpoint_id.as_str();
        let failing = match clocks.get_mut(endpoint) {
            Some(clock) if counts_as_failure(&o.next) => {
                let since = *clock.failing_since.get_or_insert_with(|| {
                    plan.failing_started.push(FailingStart {
                        endpoint_id: endpoint,
                        since: o.attempted_at,
                    });
                    o.attempted_at
                });
                Some((since, clock.disabled))
            }
            _ => None,
        };
        if o.next == NextStep::Succeeded {
            let at = succeeded.entry(endpoint).or_insert(o.attempted_at);
            *at = (*at).max(o.attempted_at);
        }
        let settlement = settle(o, failing, input.auto_disable_after_ms);
        plan.settled.push(SettledMessage {
            position,
            lease_until: o.lease_until,
            status: settlement.status,
            due_at: settlement.due_at,
            attempted_at: o.attempted_at,
            status_code: o.status_code,
            error: o.failure.as_ref().map(|f| f.reason.as_str()),
            error_kind: o.failure.as_ref().map(|f| f.kind),
        });
        if settlement.frees_queue() {
            let queue = QueueKey {
                endpoint_id: endpoint,
                room_id: &o.room_id,
            };
            plan.freed.entry(queue).or_insert(o.attempted_at);
        }
        if let Some(reason) = settlement.disable_reason {
            let clock = clocks.get_mut(endpoint);
            // Later outcomes of this batch see the endpoint disabled, as they would in order.
            if let Some(clock) = clock.filter(|c| !c.disabled) {
                clock.disabled = true;
                plan.disable.push(Disable {
                    endpoint_id: endpoint,
                    reason,
                    at: o.attempted_at,
                });
            }
        }
    }
    plan.enabled_after = clocks
        .iter()
        .filter(|(_, clock)| !clock.disabled)
        .map(|(id, _)| *id)
        .collect();
    plan.succeeded = succeeded
        .into_iter()
        .map(|(endpoint_id, at)| Success { endpoint_id, at })
        .collect();
    plan
}

#[cfg(test)]
#[path = "settle_tests.rs"]
mod tests;
