//! Snapshots of a store through the `Store` trait, in the model's terms (keys, not positions).

use std::collections::BTreeMap;

use meetinghooks::store::{EventQuery, MessageQuery, MessageStatus, Store};

/// A message by what it is, not by its row position (positions differ between stores).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub endpoint: String,
    pub meeting: String,
    pub sequence: u64,
}

/// A message's state as both stores and the model must agree on it at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Waiting,
    /// Pending and due, or delivering under a lease that has ended.
    Due,
    PendingUntil(i64),
    DeliveringUntil(i64),
    Finished(MessageStatus),
}

impl Seen {
    pub fn of(status: MessageStatus, due_at: i64, now: i64) -> Seen {
        match status {
            MessageStatus::Waiting => Seen::Waiting,
            MessageStatus::Pending | MessageStatus::Delivering if due_at <= now => Seen::Due,
            MessageStatus::Pending => Seen::PendingUntil(due_at),
            MessageStatus::Delivering => Seen::DeliveringUntil(due_at),
            other => Seen::Finished(other),
        }
    }
}

/// What a store shows after an operation.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub messages: BTreeMap<Key, (Seen, u32)>,
    /// The store's message id of each key, for outcomes and resends.
    pub ids: BTreeMap<Key, String>,
    pub events: BTreeMap<String, Vec<(u64, String)>>,
    pub endpoints: Vec<EndpointView>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointView {
    pub id: String,
    pub disabled: bool,
    pub failing_since: Option<i64>,
    pub last_success_at: Option<i64>,
}

pub async fn snapshot(store: &dyn Store, project: &str, now: i64) -> Snapshot {
    let mut snap = Snapshot::default();
    let query = MessageQuery {
        limit: 10_000,
        ..MessageQuery::default()
    };
    for m in store.messages(project, query).await.unwrap().items {
        let key = Key {
            endpoint: m.endpoint_id.clone(),
            meeting: m.meeting_id.clone(),
            sequence: m.sequence,
        };
        let seen = Seen::of(m.status, m.due_at.0, now);
        snap.messages.insert(key.clone(), (seen, m.attempts));
        snap.ids.insert(key, m.id);
    }
    let query = EventQuery {
        limit: 10_000,
        ..EventQuery::default()
    };
    for e in store.events(project, query).await.unwrap().items {
        snap.events
            .entry(e.meeting_id)
            .or_default()
            .push((e.sequence, e.webhook_type));
    }
    for e in store.endpoints(project).await.unwrap() {
        snap.endpoints.push(EndpointView {
            id: e.id,
            disabled: e.disabled,
            failing_since: e.failing_since.map(|t| t.0),
            last_success_at: e.last_success_at.map(|t| t.0),
        });
    }
    snap.endpoints.sort_by(|a, b| a.id.cmp(&b.id));
    snap
}

/// Each message's attempt-log length.
pub async fn attempt_logs(
    store: &dyn Store,
    project: &str,
    ids: &BTreeMap<Key, String>,
) -> BTreeMap<Key, u32> {
    let mut logs = BTreeMap::new();
    for (key, id) in ids {
        let page = store.attempts(project, id, None, 10_000).await.unwrap();
        logs.insert(key.clone(), page.items.len() as u32);
    }
    logs
}
