//! The dashboard's part of the `Store` trait: project-scoped reads the `/ui` pages need
//! beyond the API's listings, written once over the shared query executor. Listings stop at
//! the settled position like the API's, so the log's cursor never skips a row.

use async_trait::async_trait;

use super::query::{args, Positioned, Query, Row};
use super::rows::{self, Columns};
use super::{MessageRecord, MessageStatus, Page, StoreResult, StoredEvent};
use crate::domain::public_ids::PublicIds;
use crate::domain::timestamp::Timestamp;

/// One attempt with what the dashboard shows beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptLogEntry {
    /// The attempt's id: the live tail's cursor.
    pub id: i64,
    pub message_id: String,
    pub endpoint_id: String,
    pub meeting_id: String,
    pub webhook_type: String,
    pub attempted_at: Timestamp,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    pub error_kind: Option<String>,
}

impl AttemptLogEntry {
    /// A 2xx answer; anything else (another status, no answer) failed.
    pub fn succeeded(&self) -> bool {
        self.status_code.is_some_and(|c| (200..300).contains(&c))
    }
}

/// Which attempts: made at or after `since`, with an id above `after_id`, oldest first.
#[derive(Debug, Clone)]
pub struct AttemptLogQuery {
    pub since: Timestamp,
    pub after_id: i64,
    pub endpoint_id: Option<String>,
    pub limit: usize,
}

/// The message log's filters beyond the API's: event type and creation time.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub endpoint_id: Option<String>,
    pub meeting_id: Option<String>,
    pub status: Option<MessageStatus>,
    pub webhook_type: Option<String>,
    /// Created at or after.
    pub since: Option<Timestamp>,
    /// Created before.
    pub until: Option<Timestamp>,
    pub after: Option<i64>,
    pub limit: usize,
}

/// A room as the meetings page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSummary {
    pub room_id: String,
    pub created_at: Timestamp,
    pub sessions: u64,
}

#[async_trait]
pub trait DashboardStore {
    /// The project's attempts per [`AttemptLogQuery`].
    async fn attempt_log(
        &self,
        project_id: &str,
        query: AttemptLogQuery,
    ) -> StoreResult<Vec<AttemptLogEntry>>;
    /// The project's messages by status.
    async fn project_queue(&self, project_id: &str) -> StoreResult<Vec<(MessageStatus, u64)>>;
    /// The project's messages with the dashboard's filters, oldest first (the API's cursor).
    async fn filtered_messages(
        &self,
        project_id: &str,
        filter: MessageFilter,
    ) -> StoreResult<Page<MessageRecord>>;
    /// One event of the project by its public id.
    async fn event_by_id(
        &self,
        project_id: &str,
        event_id: &str,
    ) -> StoreResult<Option<StoredEvent>>;
    /// The project's rooms, newest first, at most `limit`.
    async fn room_summaries(&self, project_id: &str, limit: usize)
        -> StoreResult<Vec<RoomSummary>>;
    /// Where a live tail of the project starts.
    async fn log_heads(&self, project_id: &str) -> StoreResult<LogHeads>;
}

#[async_trait]
impl<S: Query + 'static> DashboardStore for S {
    async fn attempt_log(
        &self,
        project_id: &str,
        query: AttemptLogQuery,
    ) -> StoreResult<Vec<AttemptLogEntry>> {
        let params = args![
            project_id,
            query.since.0,
            query.after_id,
            query.endpoint_id,
            query.limit as i64
        ];
        let ids = self.ids();
        self.all(ATTEMPT_LOG, params, |row| attempt_log_entry(row, ids))
            .await
    }

    async fn project_queue(&self, project_id: &str) -> StoreResult<Vec<(MessageStatus, u64)>> {
        let rows = self
            .all(PROJECT_QUEUE, args![project_id], status_count)
            .await?;
        Ok(rows.into_iter().flatten().collect())
    }

    async fn filtered_messages(
        &self,
        project_id: &str,
        filter: MessageFilter,
    ) -> StoreResult<Page<MessageRecord>> {
        let settled = self.settled(Positioned::Messages).await?;
        let params = args![
            project_id,
            filter.after.unwrap_or(0),
            filter.endpoint_id,
            filter.meeting_id,
            filter.status.map(MessageStatus::as_str),
            filter.limit as i64 + 1,
            settled,
            filter.webhook_type,
            filter.since.map_or(i64::MIN, |t| t.0),
            filter.until.map_or(i64::MAX, |t| t.0),
        ];
        let ids = self.ids();
        let rows = self
            .all(&filtered_messages_sql(), params, |row| {
                rows::message(row, ids).map(|m| (m.position, m))
            })
            .await?;
        let rows = rows.into_iter().map(|(position, m)| (m, position));
        Ok(Page::from_rows(rows.collect(), filter.limit))
    }

    async fn event_by_id(
        &self,
        project_id: &str,
        event_id: &str,
    ) -> StoreResult<Option<StoredEvent>> {
        let Some(position) = self.ids().event_position(event_id) else {
            return Ok(None);
        };
        let ids = self.ids();
        let params = args![project_id, position];
        self.first(&event_by_position_sql(), params, |row| {
            rows::event(row, ids)
        })
        .await
    }

    async fn room_summaries(
        &self,
        project_id: &str,
        limit: usize,
    ) -> StoreResult<Vec<RoomSummary>> {
        let params = args![project_id, limit as i64];
        self.all(ROOM_SUMMARIES, params, room_summary).await
    }

    /// Events start at the settled position, so one committing below the head is not missed.
    async fn log_heads(&self, project_id: &str) -> StoreResult<LogHeads> {
        let head = self.first(EVENT_HEAD, args![project_id], |row| row.int(0));
        let head = head.await?.unwrap_or_default();
        let settled = self.settled(Positioned::Events).await?;
        let attempt_id = self.first(ATTEMPT_HEAD, args![], |row| row.int(0));
        Ok(LogHeads {
            event_position: head.min(settled),
            attempt_id: attempt_id.await?.unwrap_or_default(),
        })
    }
}

/// `status, COUNT(*)`; a status this build does not know is left out.
pub(crate) fn status_count(row: &Row) -> StoreResult<Option<(MessageStatus, u64)>> {
    let count = row.int(1)? as u64;
    Ok(MessageStatus::parse(&row.text(0)?).map(|status| (status, count)))
}

/// `$1` project, `$2` since, `$3` after id, `$4` endpoint or null, `$5` limit.
const ATTEMPT_LOG: &str = "SELECT a.id, a.message_position, m.endpoint_id, m.room_id,
        e.webhook_type, a.attempted_at, a.duration_ms, a.status_code, a.error_kind
     FROM attempts a
     JOIN messages m ON m.position = a.message_position
     JOIN events e ON e.position = m.event_position
     WHERE m.project_id = $1 AND a.attempted_at >= $2 AND a.id > $3
       AND (CAST($4 AS TEXT) IS NULL OR m.endpoint_id = $4)
     ORDER BY a.id LIMIT $5";

fn attempt_log_entry<R: Columns>(row: &R, ids: &PublicIds) -> Result<AttemptLogEntry, R::Error> {
    Ok(AttemptLogEntry {
        id: row.int(0)?,
        message_id: ids.message_id(row.int(1)?),
        endpoint_id: row.text(2)?,
        meeting_id: row.text(3)?,
        webhook_type: row.text(4)?,
        attempted_at: Timestamp(row.int(5)?),
        duration_ms: row.int(6)? as u64,
        status_code: row.opt_int(7)?.map(|c| c as u16),
        error_kind: row.opt_text(8)?,
    })
}

const PROJECT_QUEUE: &str =
    "SELECT status, COUNT(*) FROM messages WHERE project_id = $1 GROUP BY status";

/// `$1`-`$7` as `sql::messages_page`, then `$8` event type, `$9` since, `$10` until.
fn filtered_messages_sql() -> String {
    format!(
        "SELECT {} FROM messages m JOIN events e ON e.position = m.event_position
         WHERE m.project_id = $1 AND m.position > $2 AND m.position <= $7
           AND (CAST($3 AS TEXT) IS NULL OR m.endpoint_id = $3)
           AND (CAST($4 AS TEXT) IS NULL OR m.room_id = $4)
           AND (CAST($5 AS TEXT) IS NULL OR m.status = $5)
           AND (CAST($8 AS TEXT) IS NULL OR e.webhook_type = $8)
           AND m.created_at >= $9 AND m.created_at < $10
         ORDER BY m.position LIMIT $6",
        rows::MESSAGE_COLUMNS
    )
}

fn event_by_position_sql() -> String {
    format!(
        "SELECT {} FROM events WHERE project_id = $1 AND position = $2",
        rows::EVENT_COLUMNS
    )
}

/// `$1` project, `$2` limit.
const ROOM_SUMMARIES: &str = "SELECT r.room_id, r.created_at,
        (SELECT COUNT(*) FROM sessions s WHERE s.project_id = r.project_id AND s.room_id = r.room_id)
     FROM rooms r WHERE r.project_id = $1
     ORDER BY r.created_at DESC, r.room_id LIMIT $2";

fn room_summary<R: Columns>(row: &R) -> Result<RoomSummary, R::Error> {
    Ok(RoomSummary {
        room_id: row.text(0)?,
        created_at: Timestamp(row.int(1)?),
        sessions: row.int(2)? as u64,
    })
}

/// Where the live tail starts: the newest event position and attempt id a listing may show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogHeads {
    pub event_position: i64,
    pub attempt_id: i64,
}

const EVENT_HEAD: &str = "SELECT COALESCE(MAX(position), 0) FROM events WHERE project_id = $1";
const ATTEMPT_HEAD: &str = "SELECT COALESCE(MAX(id), 0) FROM attempts";
