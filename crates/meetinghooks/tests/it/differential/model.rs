//! The reference model: the outbox rules of README.md and ARCHITECTURE.md written naively over
//! in-memory state. It calls only the pure engine, never the stores' outbox code, so a rule
//! that both stores got wrong the same way still shows.

use std::collections::{BTreeMap, BTreeSet};

use meetinghooks::domain::signal::Signal;
use meetinghooks::domain::timestamp::Timestamp;
use meetinghooks::engine::{self, EngineConfig, Meeting};
use meetinghooks::store::{IngestReport, MessageStatus};

pub use super::observe::{Key, Seen};
use super::ops::{Next, ENDPOINTS};

pub const LEASE_MS: i64 = 60_000;
pub const AUTO_DISABLE_MS: i64 = 120_000;
pub const ENGINE: EngineConfig = EngineConfig {
    reconnect_grace_ms: 2_000,
};

#[derive(Debug, Clone)]
pub struct ModelMessage {
    pub key: Key,
    pub ordered: bool,
    pub status: MessageStatus,
    /// Next attempt (pending) or lease end (delivering).
    pub due: i64,
    pub attempts: u32,
    pub log: u32,
}

#[derive(Debug, Clone)]
pub struct ModelEndpoint {
    pub id: String,
    pub ordered: bool,
    /// `None`: every event.
    pub events: Option<Vec<&'static str>>,
    pub disabled: bool,
    pub failing_since: Option<i64>,
    pub last_success_at: Option<i64>,
}

/// A lease the harness holds, as the dispatcher would.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HeldLease {
    pub key: Key,
    pub lease_until: i64,
    /// For a manual resend: the status a failed attempt restores.
    pub resend_of: Option<MessageStatusOrd>,
}

/// `MessageStatus` with an order, so held leases sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MessageStatusOrd(pub u8);

impl MessageStatusOrd {
    pub fn of(status: MessageStatus) -> Self {
        let index = MessageStatus::ALL.iter().position(|s| *s == status);
        MessageStatusOrd(index.expect("a status") as u8)
    }
    pub fn status(self) -> MessageStatus {
        MessageStatus::ALL[self.0 as usize]
    }
}

/// What settling a batch did, as `Recorded` reports it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settled {
    pub promoted: BTreeSet<Key>,
    pub disabled: BTreeSet<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ResendRefused {
    NotFound,
    Busy,
}

pub struct Model {
    pub meetings: BTreeMap<String, Meeting>,
    pub events: BTreeMap<String, Vec<(u64, String)>>,
    seen: BTreeSet<(String, String)>,
    pub endpoints: Vec<ModelEndpoint>,
    /// In creation order, which is the order of the stores' positions.
    pub messages: Vec<ModelMessage>,
}

impl Model {
    pub fn new() -> Model {
        Model {
            meetings: BTreeMap::new(),
            events: BTreeMap::new(),
            seen: BTreeSet::new(),
            endpoints: ENDPOINTS
                .iter()
                .map(|spec| ModelEndpoint {
                    id: spec.id.to_owned(),
                    ordered: spec.ordered,
                    events: spec.events.map(|e| e.to_vec()),
                    disabled: false,
                    failing_since: None,
                    last_success_at: None,
                })
                .collect(),
            messages: Vec::new(),
        }
    }

    fn endpoint(&mut self, id: &str) -> &mut ModelEndpoint {
        self.endpoints
            .iter_mut()
            .find(|e| e.id == id)
            .expect("a known endpoint")
    }

    fn message(&mut self, key: &Key) -> &mut ModelMessage {
        self.messages
            .iter_mut()
            .find(|m| &m.key == key)
            .expect("a known message")
    }

    /// An (endpoint, meeting) queue has a message pending or in flight.
    fn in_line(&self, endpoint: &str, meeting: &str) -> bool {
        self.messages.iter().any(|m| {
            m.key.endpoint == endpoint
                && m.key.meeting == meeting
                && matches!(m.status, MessageStatus::Pending | MessageStatus::Delivering)
        })
    }

    /// A batch of signals: all of it, or nothing (the conflict's index).
    pub fn ingest(&mut self, signals: &[Signal], now: i64) -> Result<IngestReport, usize> {
        let (meetings, seen) = (self.meetings.clone(), self.seen.clone());
        let mut report = IngestReport::default();
        let mut emitted = Vec::new();
        for (index, signal) in signals.iter().enumerate() {
            // Signal ids are unique per meeting.
            if !self
                .seen
                .insert((signal.meeting_id.clone(), signal.id.clone()))
            {
                report.duplicates += 1;
                continue;
            }
            report.accepted += 1;
            let meeting = self.meetings.entry(signal.meeting_id.clone()).or_default();
            // Payloads are not compared, so the project id the ids derive from does not matter.
            match engine::apply(meeting, "model", signal, Timestamp(0), &ENGINE) {
                Ok(outcome) => {
                    report.stale += usize::from(outcome.stale);
                    report.events += outcome.events.len();
                    for e in outcome.events {
                        emitted.push((signal.meeting_id.clone(), e));
                    }
                }
                Err(_) => {
                    (self.meetings, self.seen) = (meetings, seen);
                    return Err(index);
                }
            }
        }
        for (meeting, e) in emitted {
            let webhook_type = e.event.webhook_type().as_str().to_owned();
            report.messages += self.fan_out(&meeting, e.sequence, &webhook_type, now);
        }
        Ok(report)
    }

    /// Every reconnect grace due at `now`; the number of events.
    pub fn fire_timers(&mut self, now: i64) -> usize {
        let mut emitted = Vec::new();
        for (id, meeting) in &mut self.meetings {
            if meeting.state.next_deadline().is_some_and(|d| d.0 <= now) {
                let outcome = engine::tick(meeting, id, Timestamp(now));
                emitted.extend(outcome.events.into_iter().map(|e| (id.clone(), e)));
            }
        }
        let count = emitted.len();
        for (meeting, e) in emitted {
            self.fan_out(&meeting, e.sequence, e.event.webhook_type().as_str(), now);
        }
        count
    }

    /// `POST /v2/sessions/end`; `None` without an ongoing session.
    pub fn end_session(&mut self, meeting_id: &str, now: i64) -> Option<usize> {
        let meeting = self.meetings.get_mut(meeting_id)?;
        let outcome =
            engine::end_session(meeting, meeting_id, engine::SessionEnd::now(Timestamp(now)))
                .ok()?;
        let count = outcome.events.len();
        for e in outcome.events {
            self.fan_out(meeting_id, e.sequence, e.event.webhook_type().as_str(), now);
        }
        Some(count)
    }

    /// One message per endpoint that wants the event: skipped when the endpoint is disabled,
    /// waiting behind its ordered queue, else pending now.
    fn fan_out(&mut self, meeting: &str, sequence: u64, webhook_type: &str, now: i64) -> usize {
        self.events
            .entry(meeting.to_owned())
            .or_default()
            .push((sequence, webhook_type.to_owned()));
        let mut created = 0;
        for i in 0..self.endpoints.len() {
            let endpoint = &self.endpoints[i];
            let wants = endpoint
                .events
                .as_ref()
                .is_none_or(|e| e.contains(&webhook_type));
            if !wants {
                continue;
            }
            let busy = self.messages.iter().any(|m| {
                m.key.endpoint == endpoint.id
                    && m.key.meeting == meeting
                    && matches!(
                        m.status,
                        MessageStatus::Waiting | MessageStatus::Pending | MessageStatus::Delivering
                    )
            });
            let status = if endpoint.disabled {
                MessageStatus::Skipped
            } else if endpoint.ordered && busy {
                MessageStatus::Waiting
            } else {
                MessageStatus::Pending
            };
            let key = Key {
                endpoint: endpoint.id.clone(),
                meeting: meeting.to_owned(),
                sequence,
            };
            let ordered = endpoint.ordered;
            self.messages.push(ModelMessage {
                key,
                ordered,
                status,
                due: now,
                attempts: 0,
                log: 0,
            });
            created += 1;
        }
        created
    }

    /// Every due message of the endpoint (pending, or delivering under an ended lease).
    pub fn lease(&mut self, endpoint: &str, now: i64) -> Vec<HeldLease> {
        let mut leased = Vec::new();
        for m in &mut self.messages {
            let due = matches!(m.status, MessageStatus::Pending | MessageStatus::Delivering)
                && m.due <= now;
            if m.key.endpoint == endpoint && due {
                m.status = MessageStatus::Delivering;
                m.due = now + LEASE_MS;
                leased.push(HeldLease {
                    key: m.key.clone(),
                    lease_until: m.due,
                    resend_of: None,
                });
            }
        }
        leased
    }

    /// Settles a batch of outcomes made at `now`; promoted messages are leased at the end,
    /// unless the batch disabled their endpoint.
    pub fn settle(&mut self, batch: &[(HeldLease, Next)], now: i64) -> (Settled, Vec<HeldLease>) {
        let mut settled = Settled::default();
        let mut promoted = Vec::new();
        let mut succeeded: BTreeSet<String> = BTreeSet::new();
        // Disabling waits for the whole batch: then every queued message of the endpoint,
        // whatever this batch did to it, is skipped.
        let mut disabling: BTreeSet<String> = BTreeSet::new();
        for (held, next) in batch {
            let message = self.message(&held.key);
            message.log += 1;
            let owned =
                message.status == MessageStatus::Delivering && message.due == held.lease_until;
            if !owned {
                continue;
            }
            message.attempts += 1;
            let endpoint_id = held.key.endpoint.clone();
            let failure = !matches!(next, Next::Success) && held.resend_of.is_none();
            let mut status = match (next, held.resend_of) {
                (Next::Success, _) => MessageStatus::Succeeded,
                (_, Some(previous)) => previous.status(),
                (Next::RetrySoon | Next::RetryFar, None) => MessageStatus::Pending,
                (Next::Exhausted, None) => MessageStatus::Exhausted,
                (Next::Gone, None) => MessageStatus::Failed,
            };
            let mut due = now;
            if status == MessageStatus::Pending && held.resend_of.is_none() {
                due = now + next.retry_after_ms();
            }
            let mut disable = false;
            if failure {
                let endpoint = self.endpoint(&endpoint_id);
                let since = *endpoint.failing_since.get_or_insert(now);
                disable = matches!(next, Next::Gone) || now - since >= AUTO_DISABLE_MS;
                if (endpoint.disabled || disable) && status == MessageStatus::Pending {
                    status = MessageStatus::Skipped;
                    due = now;
                }
            } else if matches!(next, Next::Success) {
                succeeded.insert(endpoint_id.clone());
            }
            let message = self.message(&held.key);
            (message.status, message.due) = (status, due);
            if !matches!(status, MessageStatus::Pending | MessageStatus::Waiting) {
                promoted.extend(self.promote(&endpoint_id, &held.key.meeting, now));
            }
            if disable {
                disabling.insert(endpoint_id);
            }
        }
        for id in succeeded {
            let endpoint = self.endpoint(&id);
            endpoint.last_success_at = Some(endpoint.last_success_at.unwrap_or(now).max(now));
            endpoint.failing_since = None;
        }
        let mut leases = Vec::new();
        for key in promoted {
            // A disabled endpoint's promoted message is not leased (it is skipped below).
            if self.endpoint(&key.endpoint).disabled || disabling.contains(&key.endpoint) {
                continue;
            }
            let message = self.message(&key);
            if message.status == MessageStatus::Pending {
                message.status = MessageStatus::Delivering;
                message.due = now + LEASE_MS;
                leases.push(HeldLease {
                    key: key.clone(),
                    lease_until: now + LEASE_MS,
                    resend_of: None,
                });
                settled.promoted.insert(key);
            }
        }
        for id in disabling {
            if self.disable(&id) {
                settled.disabled.insert(id);
            }
        }
        (settled, leases)
    }

    /// The oldest waiting message of a queue with nothing in line becomes due now.
    fn promote(&mut self, endpoint: &str, meeting: &str, now: i64) -> Option<Key> {
        if self.in_line(endpoint, meeting) {
            return None;
        }
        let next = self
            .messages
            .iter_mut()
            .filter(|m| m.key.endpoint == endpoint && m.key.meeting == meeting)
            .filter(|m| m.status == MessageStatus::Waiting)
            .min_by_key(|m| m.key.sequence)?;
        (next.status, next.due) = (MessageStatus::Pending, now);
        Some(next.key.clone())
    }

    /// Every queue of the endpoint whose head waits with nothing in line moves on.
    fn repair(&mut self, endpoint: &str, now: i64) {
        let meetings: BTreeSet<String> = self
            .messages
            .iter()
            .filter(|m| m.key.endpoint == endpoint && m.status == MessageStatus::Waiting)
            .map(|m| m.key.meeting.clone())
            .collect();
        for meeting in meetings {
            self.promote(endpoint, &meeting, now);
        }
    }

    /// `true` when it was enabled; its waiting and pending messages are skipped.
    pub fn disable(&mut self, endpoint: &str) -> bool {
        let e = self.endpoint(endpoint);
        if e.disabled {
            return false;
        }
        e.disabled = true;
        for m in &mut self.messages {
            if m.key.endpoint == endpoint
                && matches!(m.status, MessageStatus::Waiting | MessageStatus::Pending)
            {
                m.status = MessageStatus::Skipped;
            }
        }
        true
    }

    /// Re-enabling restarts the failing clock and repairs stranded queues.
    pub fn enable(&mut self, endpoint: &str, now: i64) {
        let e = self.endpoint(endpoint);
        if e.disabled {
            e.disabled = false;
            e.failing_since = None;
        }
        self.repair(endpoint, now);
    }

    pub fn set_ordering(&mut self, endpoint: &str, ordered: bool) {
        self.endpoint(endpoint).ordered = ordered;
    }

    /// Failed, exhausted and skipped messages are queued again in order; then every queue of
    /// the endpoint moves on.
    pub fn recover(&mut self, endpoint: &str, now: i64) -> usize {
        let ordered = self.endpoint(endpoint).ordered;
        let mut count = 0;
        for m in &mut self.messages {
            let finished = matches!(
                m.status,
                MessageStatus::Failed | MessageStatus::Exhausted | MessageStatus::Skipped
            );
            if m.key.endpoint == endpoint && finished {
                m.ordered = ordered;
                m.status = if ordered {
                    MessageStatus::Waiting
                } else {
                    MessageStatus::Pending
                };
                m.due = now;
                count += 1;
            }
        }
        self.repair(endpoint, now);
        count
    }

    /// A manual resend: never of a message in flight or waiting, nor ahead of its queue.
    pub fn resend(&mut self, key: &Key, now: i64) -> Result<HeldLease, ResendRefused> {
        let Some(message) = self.messages.iter().find(|m| &m.key == key) else {
            return Err(ResendRefused::NotFound);
        };
        let (status, ordered) = (message.status, message.ordered);
        match status {
            MessageStatus::Delivering | MessageStatus::Waiting => return Err(ResendRefused::Busy),
            MessageStatus::Pending => {}
            _ if ordered && self.in_line(&key.endpoint, &key.meeting) => {
                return Err(ResendRefused::Busy)
            }
            _ => {}
        }
        let message = self.message(key);
        (message.status, message.due) = (MessageStatus::Delivering, now + LEASE_MS);
        Ok(HeldLease {
            key: key.clone(),
            lease_until: now + LEASE_MS,
            resend_of: Some(MessageStatusOrd::of(status)),
        })
    }

    /// A single node restarted: the dead process's leases are due again.
    pub fn release_leases(&mut self, now: i64) {
        for m in &mut self.messages {
            if m.status == MessageStatus::Delivering {
                (m.status, m.due) = (MessageStatus::Pending, now);
            }
        }
    }

    pub fn seen(&self, now: i64) -> BTreeMap<Key, (Seen, u32)> {
        self.messages
            .iter()
            .map(|m| (m.key.clone(), (Seen::of(m.status, m.due, now), m.attempts)))
            .collect()
    }
}
