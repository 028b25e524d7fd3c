//! Fan-out: which endpoints an event becomes a message for, and the status each message
//! starts in (`pending`, `waiting` behind its queue, or `skipped` for a disabled endpoint).

use meetinghooks_webhooks::WebhookType;

use super::MessageStatus;
use crate::domain::endpoint::Ordering;
use crate::domain::subscription::Subscription;

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
