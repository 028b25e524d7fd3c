//! The `Store` trait: durable state behind one interface, free of any database's types.
//!
//! A store applies the engine inside its own transactions, so a signal, the events it
//! causes and the new meeting state commit together or not at all.

pub mod changes;
pub mod dashboard;
mod endpoints;
pub mod keys;
pub mod listings;
mod messages;
mod panic;
pub mod postgres;
mod projects;
pub mod pruning;
mod query;
mod reads;
mod resealing;
mod rows;
pub mod rsa_keys;
mod sources;
mod sql;
pub mod sqlite;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::endpoint::{Endpoint, EndpointPatch};
use crate::domain::public_ids::PublicIds;
use crate::domain::signal::Signal;
use crate::domain::subscription::Subscription;
use crate::domain::timestamp::Timestamp;
use crate::engine::state::ParticipantState;
use crate::engine::{Conflict, SessionEnd, SessionState};
// The delivery vocabulary lives with the outbox's rules; the trait speaks it.
pub use crate::outbox::{
    AttemptOutcome, Failure, LeaseBatch, LeaseRequest, Leased, MessageStatus, NextStep, Recorded,
};
pub use dashboard::DashboardStore;
pub use sources::{api_key_taken, SourceStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An input could not be applied to the meeting's state; nothing of its batch was kept.
    #[error("signals[{index}]: {conflict}")]
    Conflict { index: usize, conflict: Conflict },
    /// `POST /v2/sessions/end` on a room with no ongoing session.
    #[error("{0}")]
    NoOngoingSession(Conflict),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A new `participant.joined` into a deactivated room; nothing of its batch was kept.
    #[error("signals[{index}]: room {room_id} is deactivated and refuses joins")]
    RoomDeactivated { index: usize, room_id: String },
    /// The request conflicts with the current state of a resource.
    #[error("{0}")]
    Busy(String),
    /// The database cannot be reached or refused the write; retrying may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Every reader, connection or queue slot is taken: nothing was done, retry shortly.
    #[error("store overloaded: {0}")]
    Overloaded(String),
    /// A broken invariant (a bug) failed this operation; nothing of it was kept.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Names leases as they leave a store: rows know their positions, the world their public ids.
pub(crate) fn named(ids: &PublicIds) -> impl Fn(Leased) -> Leased + '_ {
    move |leased| Leased {
        message_id: ids.message_id(leased.position),
        ..leased
    }
}

/// `create_project` with a name another project has.
pub(crate) fn project_name_taken(name: &str) -> StoreError {
    StoreError::Busy(format!("a project named {name:?} already exists"))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub name: String,
}

/// A room's own webhook, as set with `POST /v2/rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomWebhook {
    pub end_point: String,
    pub events: Subscription,
}

/// The endpoint that carries a room's own webhook, signed with the project's room secret.
pub(crate) fn room_webhook_endpoint(
    project_id: &str,
    room_id: &str,
    webhook: &RoomWebhook,
    secret: String,
    (secret_previous, secret_previous_until): (Option<String>, Option<Timestamp>),
    now: Timestamp,
) -> Endpoint {
    Endpoint {
        room_id: Some(room_id.to_owned()),
        description: format!("webhook of room {room_id}"),
        events: webhook.events.clone(),
        secret_previous,
        secret_previous_until,
        signatures: crate::domain::signatures::Signatures::both(),
        ..Endpoint::new(
            crate::domain::ids::random_hex_id("ep_", 12),
            project_id.to_owned(),
            webhook.end_point.clone(),
            secret,
            now,
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub room_id: String,
    pub custom_room_id: Option<String>,
    pub webhook: Option<RoomWebhook>,
    pub created_at: Timestamp,
    /// Deactivated with `POST /v2/rooms/deactivate`: it refuses joins.
    pub disabled: bool,
    pub updated_at: Timestamp,
    pub auto_close: Option<AutoClose>,
}

/// What `POST /v2/rooms` sets on a room; `None` keeps what an existing room has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomSettings {
    pub webhook: Option<RoomWebhook>,
    pub auto_close: Option<AutoClose>,
}

/// What ends a room's sessions by themselves (VideoSDK's `autoCloseConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoClose {
    #[serde(rename = "type")]
    pub kind: AutoCloseKind,
    /// Minutes a session may run.
    pub duration: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AutoCloseKind {
    /// The session ends; the room stays active.
    #[serde(rename = "session-ends")]
    SessionEnds,
    /// The session ends and the room is deactivated.
    #[serde(rename = "session-end-and-deactivate")]
    SessionEndAndDeactivate,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    pub accepted: usize,
    pub duplicates: usize,
    pub stale: usize,
    pub events: usize,
    /// Messages created for endpoints by those events.
    pub messages: usize,
}

/// A session as listed by the sessions API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub room_id: String,
    pub session: SessionState,
    /// In the order they first joined.
    pub participants: Vec<ParticipantState>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: String,
    /// Global insertion position; the pagination cursor.
    pub position: i64,
    pub meeting_id: String,
    pub session_id: String,
    pub sequence: u64,
    pub webhook_type: String,
    /// The exact bytes a webhook body carries.
    pub payload: Vec<u8>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub meeting_id: Option<String>,
    pub session_id: Option<String>,
    pub webhook_type: Option<String>,
    pub after: Option<i64>,
    pub limit: usize,
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as the next page's cursor; `None` on the last page.
    pub next_cursor: Option<i64>,
}

impl<T> Page<T> {
    /// Builds a page from `(item, cursor)` rows fetched with one extra, which tells whether
    /// another page follows.
    pub(crate) fn from_rows(mut rows: Vec<(T, i64)>, limit: usize) -> Page<T> {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more {
            rows.last().map(|(_, pos)| *pos)
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(|(item, _)| item).collect(),
            next_cursor,
        }
    }
}

/// A message as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub id: String,
    pub position: i64,
    pub endpoint_id: String,
    pub event_id: String,
    pub meeting_id: String,
    pub sequence: u64,
    pub webhook_type: String,
    pub status: MessageStatus,
    pub attempts: u32,
    /// Next attempt (pending) or lease expiry (delivering).
    pub due_at: Timestamp,
    pub created_at: Timestamp,
    pub last_attempt_at: Option<Timestamp>,
    pub last_status_code: Option<u16>,
    /// Why the last attempt failed, e.g. `connect: connection refused` or `http 500`.
    pub last_error: Option<String>,
    /// The kind of that failure, for programs: an attempt log error kind, or `http`.
    pub last_error_kind: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct MessageQuery {
    pub endpoint_id: Option<String>,
    pub meeting_id: Option<String>,
    pub status: Option<MessageStatus>,
    pub after: Option<i64>,
    pub limit: usize,
}

/// One stored delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub id: i64,
    pub attempted_at: Timestamp,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    pub error_kind: Option<String>,
    /// The first 1 KiB of the response body.
    pub response_body: String,
}

#[async_trait]
/// Sources' methods come from [`SourceStore`], kept apart so each store implements them
/// in its own `sources` file.
pub trait Store:
    keys::KeyStore
    + pruning::Pruning
    + SourceStore
    + DashboardStore
    + rsa_keys::RsaKeyStore
    + listings::Listings
    + Send
    + Sync
    + 'static
{
    /// Creates a project whose API key hashes to `key_hash`.
    async fn create_project(&self, name: &str, key_hash: [u8; 32]) -> StoreResult<Project>;
    /// Makes sure the project named `name` exists and accepts `key_hash`.
    async fn ensure_project_key(&self, name: &str, key_hash: [u8; 32]) -> StoreResult<Project>;
    async fn project_by_key(&self, key_hash: [u8; 32]) -> StoreResult<Option<Project>>;

    /// Creates the room, or updates the webhook of an existing one. `true` when it was created.
    async fn upsert_room(
        &self,
        project_id: &str,
        room_id: &str,
        custom: bool,
        settings: RoomSettings,
    ) -> StoreResult<(Room, bool)>;
    async fn room(&self, project_id: &str, room_id: &str) -> StoreResult<Option<Room>>;

    /// Applies a validated batch atomically: all of it commits durably, or none of it.
    async fn ingest(&self, project_id: &str, signals: Vec<Signal>) -> StoreResult<IngestReport>;
    /// Ends a room's ongoing session and returns it in its final form (still open while a
    /// `RoomFinished` end waits for live egresses).
    async fn end_session(
        &self,
        project_id: &str,
        room_id: &str,
        end: SessionEnd,
    ) -> StoreResult<SessionRecord>;
    /// Fires reconnect graces due at `now` in every meeting; returns the number of events emitted.
    async fn fire_due_timers(&self, now: Timestamp) -> StoreResult<usize>;
    /// The earliest pending timer, if any.
    async fn next_timer(&self) -> StoreResult<Option<Timestamp>>;

    async fn sessions(
        &self,
        project_id: &str,
        room_id: &str,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<SessionRecord>>;
    async fn session(
        &self,
        project_id: &str,
        session_id: &str,
    ) -> StoreResult<Option<SessionRecord>>;
    async fn events(&self, project_id: &str, query: EventQuery) -> StoreResult<Page<StoredEvent>>;

    // --- endpoints ---------------------------------------------------------------------------

    async fn create_endpoint(&self, endpoint: Endpoint) -> StoreResult<Endpoint>;
    /// Every endpoint of the project, rooms' own webhooks included, oldest first.
    async fn endpoints(&self, project_id: &str) -> StoreResult<Vec<Endpoint>>;
    async fn endpoint(&self, project_id: &str, endpoint_id: &str) -> StoreResult<Option<Endpoint>>;
    /// Applies a PATCH to the endpoint as stored, inside one transaction; only the patch's
    /// settings and the delivery state it changes are written, never the secrets. Disabling
    /// marks its queued messages `skipped`; enabling moves its stranded queues on.
    async fn update_endpoint(
        &self,
        project_id: &str,
        endpoint_id: &str,
        patch: EndpointPatch,
    ) -> StoreResult<Endpoint>;
    /// Makes `secret` the account endpoint's signing secret, the current one signing beside
    /// it until `previous_until`, in one statement that writes nothing else but `updated_at`.
    async fn rotate_endpoint_secret(
        &self,
        project_id: &str,
        endpoint_id: &str,
        secret: String,
        previous_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Endpoint>;
    /// Deletes an endpoint with its messages and attempts; `false` if it did not exist.
    async fn delete_endpoint(&self, project_id: &str, endpoint_id: &str) -> StoreResult<bool>;
    /// The per-project secret that signs room webhooks, created on first use.
    async fn room_secret(&self, project_id: &str) -> StoreResult<String>;
    /// Replaces the room-webhook secret; the old one keeps signing until `previous_until`.
    async fn rotate_room_secret(
        &self,
        project_id: &str,
        secret: String,
        previous_until: Timestamp,
    ) -> StoreResult<String>;

    // --- dispatch -------------------------------------------------------------------------------

    /// Every endpoint of every project, for the dispatcher's cache.
    async fn delivery_targets(&self) -> StoreResult<Vec<Endpoint>>;
    /// Leases due messages, at most `max` per endpoint, until `lease_until`.
    async fn lease(
        &self,
        requests: Vec<LeaseRequest>,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<LeaseBatch>;
    /// Stores attempts and applies their outcomes in one transaction. With `lease_until`,
    /// each meeting's next message that an outcome lets go is leased and returned. An outcome
    /// whose lease is no longer the message's (it expired and was taken over) is logged as an
    /// attempt and otherwise ignored.
    async fn record_outcomes(
        &self,
        outcomes: Vec<AttemptOutcome>,
        auto_disable_after_ms: i64,
        lease_until: Option<Timestamp>,
    ) -> StoreResult<Recorded>;
    /// After a restart of a single node: in-flight leases of the dead process are due now.
    /// A shared store does nothing here: another node may hold them, so they expire instead.
    async fn release_leases(&self, now: Timestamp) -> StoreResult<usize>;
    /// Whether other processes share this store, so work can appear that this process did
    /// not create, and must be looked for.
    fn shared(&self) -> bool {
        false
    }
    /// What this store's commits changed (and, on a shared store, other nodes' commits),
    /// announced after each commit; a rolled-back write announces nothing.
    fn changes(&self) -> changes::ChangeFeed;
    /// The install's key for public message and event ids and page cursors.
    fn public_ids(&self) -> &PublicIds;
    /// Deletes up to `limit` finished messages (succeeded, failed, exhausted or skipped)
    /// created before `cutoff`, with their attempts, oldest first; returns how many.
    async fn delete_finished(&self, cutoff: Timestamp, limit: usize) -> StoreResult<usize>;
    /// Message counts by status, for metrics.
    async fn queue_depth(&self) -> StoreResult<Vec<(MessageStatus, u64)>>;

    // --- messages API --------------------------------------------------------------------------

    async fn messages(
        &self,
        project_id: &str,
        query: MessageQuery,
    ) -> StoreResult<Page<MessageRecord>>;
    async fn message(
        &self,
        project_id: &str,
        message_id: &str,
    ) -> StoreResult<Option<MessageRecord>>;
    async fn attempts(
        &self,
        project_id: &str,
        message_id: &str,
        after: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<AttemptRecord>>;
    /// Re-queues an endpoint's failed, exhausted and skipped messages created since `since`,
    /// in their original order. Returns how many.
    async fn recover(
        &self,
        project_id: &str,
        endpoint_id: &str,
        since: Timestamp,
    ) -> StoreResult<usize>;
    /// Leases one message for a manual resend.
    async fn lease_for_resend(
        &self,
        project_id: &str,
        message_id: &str,
        lease_until: Timestamp,
    ) -> StoreResult<Leased>;
    /// Stores a sample event and one message for it to one endpoint; returns the message id.
    async fn enqueue_test(
        &self,
        project_id: &str,
        endpoint_id: &str,
        webhook_type: &str,
        payload: Vec<u8>,
    ) -> StoreResult<String>;

    /// Cheap liveness check of the database, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
}
