//! The `Store` trait: durable state behind one interface, free of any database's types.
//!
//! A store applies the engine inside its own transactions, so a signal, the events it
//! causes and the new meeting state commit together or not at all.

pub mod sqlite;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::signal::Signal;
use crate::domain::subscription::Subscription;
use crate::domain::timestamp::Timestamp;
use crate::engine::{Conflict, SessionState};

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
    /// The database cannot be reached or refused the write; retrying may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub room_id: String,
    pub custom_room_id: Option<String>,
    pub webhook: Option<RoomWebhook>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    pub accepted: usize,
    pub duplicates: usize,
    pub stale: usize,
    pub events: usize,
}

/// A session as listed by the sessions API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub room_id: String,
    pub session: SessionState,
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

#[async_trait]
pub trait Store: Send + Sync + 'static {
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
        webhook: Option<RoomWebhook>,
    ) -> StoreResult<(Room, bool)>;
    async fn room(&self, project_id: &str, room_id: &str) -> StoreResult<Option<Room>>;

    /// Applies a validated batch atomically: all of it commits durably, or none of it.
    async fn ingest(&self, project_id: &str, signals: Vec<Signal>) -> StoreResult<IngestReport>;
    /// Ends a room's ongoing session and returns it in its final form.
    async fn end_session(
        &self,
        project_id: &str,
        room_id: &str,
        now: Timestamp,
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

    /// Cheap liveness check of the database, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
}
