//! Outbox rules every store shares: message and event ids, who an event fans out to, and how
//! an attempt's outcome settles its message. Pure: the stores run the SQL around them.

use meetinghooks_webhooks::WebhookType;

use crate::domain::endpoint::Ordering;
use crate::domain::subscription::Subscription;
use crate::domain::timestamp::Timestamp;
use crate::store::{AttemptOutcome, MessageStatus, NextStep};

/// Message ids are `msg_<position>`: stable across every attempt, and a primary-key lookup.
pub fn message_id(position: i64) -> String {
    format!("msg_{position}")
}

pub fn message_position(id: &str) -> Option<i64> {
    id.strip_prefix("msg_")?.parse().ok()
}

/// Event ids are `evt_<position>`.
pub fn event_id(position: i64) -> String {
    format!("evt_{position}")
}

/// An endpoint as fan-out sees it.
pub struct Target {
    pub id: String,
    pub room_id: Option<String>,
    pub events: Subscription,
    pub ordered: bool,
    pub disabled: bool,
}

impl Target {
    /// Builds a target from its stored columns; an unreadable subscription means every event.
    pub fn from_columns(
        id: String,
        room_id: Option<String>,
        events_json: &str,
        ordering: &str,
        disabled: bool,
    ) -> Target {
        Target {
            id,
            room_id,
            events: serde_json::from_str::<Vec<String>>(events_json)
                .ok()
                .and_then(|p| Subscription::parse(p).ok())
                .unwrap_or_else(|| Subscription::parse(vec!["*".into()]).expect("valid")),
            ordered: Ordering::parse(ordering) != Some(Ordering::None),
            disabled,
        }
    }

    /// Whether an event of this type in this room becomes a message for this endpoint.
    pub fn wants(&self, room_id: &str, webhook_type: WebhookType) -> bool {
        self.room_id.as_deref().is_none_or(|r| r == room_id) && self.events.matches(webhook_type)
    }

    /// Whether a new message's status depends on its (endpoint, meeting) queue being busy.
    pub fn asks_queue(&self) -> bool {
        self.ordered && !self.disabled
    }

    /// A new message's status; `queue_busy` matters only when `asks_queue`.
    pub fn first_status(&self, queue_busy: bool) -> MessageStatus {
        if self.disabled {
            MessageStatus::Skipped
        } else if self.ordered && queue_busy {
            MessageStatus::Waiting
        } else {
            MessageStatus::Pending
        }
    }
}

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

/// The statuses retention may delete: nothing will happen to these messages any more, short
/// of a manual `recover` or `resend`.
pub const FINISHED: &str = "('succeeded', 'failed', 'exhausted', 'skipped')";

/// Selects up to `$2` finished messages created before `$1`, oldest first. The scan stops at
/// the first message created after the cutoff, so it costs what is old, not the whole table.
pub fn finished_before_sql(placeholder: fn(usize) -> String) -> String {
    let (cutoff, limit) = (placeholder(1), placeholder(2));
    format!(
        "SELECT position FROM messages
         WHERE position < COALESCE(
                 (SELECT position FROM messages WHERE created_at >= {cutoff}
                  ORDER BY position LIMIT 1), 9223372036854775807)
           AND created_at < {cutoff} AND status IN {FINISHED}
         ORDER BY position LIMIT {limit}"
    )
}
