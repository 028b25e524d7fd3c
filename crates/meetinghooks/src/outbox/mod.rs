//! The outbox's rules, written once: which endpoints an event goes to, how an attempt's
//! outcome settles its message, which queue moves on, what a resend or recover may do.
//! Pure (no SQL, no async): each store reads what a plan needs and executes its writes.

mod fan_out;
pub mod fence;
mod ingest;
mod promote;
mod requeue;
mod settle;
mod types;

pub use fan_out::{plan_fan_out, queues_to_check, FannedOut, NewEvent, NewMessage, Target};
pub use ingest::{Advance, Finished, IngestRun, ParticipantKey, Touched};
pub use promote::{plan_promotion, plan_repair, Promote, QueueHead};
pub use requeue::{check_resend, plan_recover, Recoverable, Refusal, Requeue, RECOVERABLE};
pub use settle::{
    counts_as_failure, plan_outcomes, settle, AttemptRow, Disable, EndpointClock, FailingStart,
    OutcomeInput, OutcomePlan, SettledMessage, Settlement, Success,
};
pub use types::{
    AttemptOutcome, Failure, LeaseBatch, LeaseKey, LeaseRequest, Leased, MessageStatus, NextStep,
    Promotion, QueueKey, Recorded,
};

/// Test events and their messages live in this meeting id, which no real meeting can have;
/// they have no queue, so they are never ordered.
pub const TEST_ROOM: &str = "";
