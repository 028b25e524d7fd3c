//! Fan-out: which endpoints an event becomes a message for, and the status each message
//! starts in (`pending`, `waiting` behind its queue, or `skipped` for a disabled endpoint).

use std::collections::BTreeSet;

use meetinghooks_webhooks::WebhookType;

use super::{MessageStatus, QueueKey};
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

/// A just-inserted event, as fan-out sees it.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    pub room_id: &'a str,
    pub position: i64,
    pub webhook_type: WebhookType,
}

/// A message fan-out creates; the store inserts it due (and created) now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage<'a> {
    pub endpoint_id: &'a str,
    pub event_position: i64,
    pub room_id: &'a str,
    pub ordered: bool,
    pub status: MessageStatus,
}

/// The queues whose state decides a new message's status: the store reads which of them
/// hold a waiting, pending or delivering message (the `busy` of [`plan_fan_out`]).
pub fn queues_to_check<'a>(
    targets: &'a [Target],
    events: &[NewEvent<'a>],
) -> BTreeSet<QueueKey<'a>> {
    events
        .iter()
        .flat_map(|event| {
            targets
                .iter()
                .filter(|t| t.asks_queue() && t.wants(event.room_id, event.webhook_type))
                .map(|t| QueueKey {
                    endpoint_id: &t.id,
                    room_id: event.room_id,
                })
        })
        .collect()
}

/// One message per wanting target and event (events in position order): `skipped` for a
/// disabled endpoint, `waiting` behind a busy ordered queue, else `pending`. A message this
/// batch creates makes its queue busy for the events after it.
pub fn plan_fan_out<'a>(
    targets: &'a [Target],
    events: &[NewEvent<'a>],
    busy: &BTreeSet<QueueKey<'a>>,
) -> Vec<NewMessage<'a>> {
    let mut busy = busy.clone();
    let mut messages = Vec::new();
    for event in events {
        for target in targets {
            if !target.wants(event.room_id, event.webhook_type) {
                continue;
            }
            let queue = QueueKey {
                endpoint_id: &target.id,
                room_id: event.room_id,
            };
            let status = target.first_status(busy.contains(&queue));
            if target.asks_queue() {
                // Whatever it is now, the queue holds a message the next one must wait for.
                busy.insert(queue);
            }
            messages.push(NewMessage {
                endpoint_id: &target.id,
                event_position: event.position,
                room_id: event.room_id,
                ordered: target.ordered,
                status,
            });
        }
    }
    messages
}

/// What fan-out created: how many messages, and the endpoints that have one due now (the
/// lanes a dispatcher must look at; waiting and skipped messages are not due).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FannedOut {
    pub messages: usize,
    pub due_for: BTreeSet<String>,
}

impl FannedOut {
    pub fn of(messages: &[NewMessage<'_>]) -> FannedOut {
        FannedOut {
            messages: messages.len(),
            due_for: messages
                .iter()
                .filter(|m| m.status == MessageStatus::Pending)
                .map(|m| m.endpoint_id.to_owned())
                .collect(),
        }
    }

    pub fn add(&mut self, other: FannedOut) {
        self.messages += other.messages;
        self.due_for.extend(other.due_for);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: &str, room: Option<&str>, ordering: &str, disabled: bool) -> Target {
        Target::from_columns(
            id.into(),
            room.map(Into::into),
            r#"["*"]"#,
            ordering,
            disabled,
        )
    }

    fn event(room_id: &str, position: i64) -> NewEvent<'_> {
        NewEvent {
            room_id,
            position,
            webhook_type: WebhookType::SessionStarted,
        }
    }

    fn statuses<'a>(messages: &[NewMessage<'a>]) -> Vec<(&'a str, i64, MessageStatus)> {
        messages
            .iter()
            .map(|m| (m.endpoint_id, m.event_position, m.status))
            .collect()
    }

    #[test]
    fn ordered_queues_wait_behind_busy_ones_and_behind_this_batch() {
        let targets = [
            target("ordered", None, "meeting", false),
            target("free", None, "none", false),
            target("off", None, "meeting", true),
            target("room", Some("b"), "meeting", false),
        ];
        let events = [event("a", 1), event("a", 2), event("b", 3)];
        let asked = queues_to_check(&targets, &events);
        // Neither the unordered nor the disabled endpoint asks.
        assert_eq!(asked.len(), 3);
        let busy = BTreeSet::from([QueueKey {
            endpoint_id: "room",
            room_id: "b",
        }]);
        use MessageStatus::*;
        let planned = plan_fan_out(&targets, &events, &busy);
        // Only pending messages make their endpoint's lane worth a look.
        let fanned = FannedOut::of(&planned);
        assert_eq!(fanned.messages, 10);
        assert_eq!(
            fanned.due_for,
            BTreeSet::from(["ordered".to_owned(), "free".to_owned()])
        );
        assert_eq!(
            statuses(&planned),
            [
                ("ordered", 1, Pending),
                ("free", 1, Pending),
                ("off", 1, Skipped),
                ("ordered", 2, Waiting),
                ("free", 2, Pending),
                ("off", 2, Skipped),
                ("ordered", 3, Pending),
                ("free", 3, Pending),
                ("off", 3, Skipped),
                ("room", 3, Waiting),
            ]
        );
    }

    #[test]
    fn an_unsubscribed_endpoint_gets_nothing() {
        let targets = [Target::from_columns(
            "ep".into(),
            None,
            r#"["participant-joined"]"#,
            "meeting",
            false,
        )];
        assert!(plan_fan_out(&targets, &[event("a", 1)], &BTreeSet::new()).is_empty());
    }
}
