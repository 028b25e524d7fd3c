//! Settling attempt outcomes: where each leaves its message, the endpoint's failing and
//! success clocks, auto-disable and 410, and which queues a batch frees.

use super::{AttemptOutcome, MessageStatus, NextStep};
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
