//! The delivery vocabulary every store and the dispatcher share: message states, leases,
//! attempt outcomes and what settling a batch of them did.

use serde::{Deserialize, Serialize};

use crate::domain::timestamp::Timestamp;

/// A message's delivery state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// Behind an earlier message of the same (endpoint, meeting).
    Waiting,
    /// Due for an attempt at its `next_attempt_at`.
    Pending,
    /// An attempt is in flight under a lease.
    Delivering,
    Succeeded,
    /// Ended without exhausting retries, e.g. the endpoint answered 410 Gone.
    Failed,
    Exhausted,
    /// Not attempted because the endpoint is disabled; `recover` re-queues it.
    Skipped,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 7] = [
        MessageStatus::Waiting,
        MessageStatus::Pending,
        MessageStatus::Delivering,
        MessageStatus::Succeeded,
        MessageStatus::Failed,
        MessageStatus::Exhausted,
        MessageStatus::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Waiting => "waiting",
            MessageStatus::Pending => "pending",
            MessageStatus::Delivering => "delivering",
            MessageStatus::Succeeded => "succeeded",
            MessageStatus::Failed => "failed",
            MessageStatus::Exhausted => "exhausted",
            MessageStatus::Skipped => "skipped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A message leased for one attempt: everything the dispatcher needs to send it.
#[derive(Debug, Clone)]
pub struct Leased {
    pub message_id: String,
    pub endpoint_id: String,
    pub room_id: String,
    pub ordered: bool,
    pub sequence: u64,
    pub payload: Vec<u8>,
    /// Attempts made before this one.
    pub attempts: u32,
    pub event_created_at: Timestamp,
    /// For a manual resend: the status to return to if the attempt fails.
    pub resend_of: Option<MessageStatus>,
    /// When the lease ends; it also identifies the lease, so an outcome written after another
    /// node took the message over changes nothing.
    pub lease_until: Timestamp,
    /// How much of the lease was left, by the store's clock, when the store handed it out;
    /// the sender measures it from before it asked ([`crate::outbox::fence::held_until`]).
    pub lease_left_ms: i64,
}

/// Why an attempt failed: a kind for programs and a short reason for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// An attempt log error kind (`connect`, `dns`, `timeout`, …) or `http` for a non-2xx answer.
    pub kind: &'static str,
    /// E.g. `connect: connection refused`, `timeout: no answer within 15 s`, `http 500`.
    pub reason: String,
}

/// What the dispatcher decided after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    Succeeded,
    RetryAt(Timestamp),
    Exhausted,
    /// The endpoint answered 410 Gone: it is disabled with this reason.
    Gone(String),
    /// A failed manual resend leaves the message as it was.
    Restore(MessageStatus),
}

#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub message_id: String,
    /// The lease the attempt was made under (`Leased::lease_until`).
    pub lease_until: Timestamp,
    pub endpoint_id: String,
    pub room_id: String,
    pub ordered: bool,
    /// 1-based number of this attempt of the message, as sent in `webhook-attempt`.
    pub attempt: u32,
    pub attempted_at: Timestamp,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    /// The attempt log's kind of a failure without an answer.
    pub error_kind: Option<&'static str>,
    /// `None` for a success.
    pub failure: Option<Failure>,
    pub response_body: String,
    pub next: NextStep,
}

/// What writing a batch of outcomes did besides settling the messages.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Messages leased on promotion, for the dispatcher to send.
    pub promoted: Vec<Leased>,
    /// Endpoints these outcomes disabled (410 or auto-disable), with the reason.
    pub disabled: Vec<(String, String)>,
}

/// How many due messages the dispatcher can take for one endpoint right now.
#[derive(Debug, Clone)]
pub struct LeaseRequest {
    pub endpoint_id: String,
    pub max: usize,
}

#[derive(Debug, Default)]
pub struct LeaseBatch {
    pub leased: Vec<Leased>,
    /// For each endpoint that had fewer due than asked: its next due time, if any.
    pub next_due: Vec<(String, Option<Timestamp>)>,
}

/// An (endpoint, meeting) queue: ordered messages of one go out one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueKey<'a> {
    pub endpoint_id: &'a str,
    pub room_id: &'a str,
}

/// A lease as an outcome names it: the message and the lease's end, which identifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaseKey {
    pub position: i64,
    pub lease_until: Timestamp,
}

/// What a promoted message becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promotion {
    /// Leased at once until then and handed back, so it goes without another round trip.
    Lease(Timestamp),
    /// Pending, due now: the next lease round takes it.
    DueNow,
}
