//! The dashboard's reads on SQLite ([`DashboardStore`]), through the reader pool.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::store::dashboard::{
    self, AttemptLogEntry, AttemptLogQuery, DashboardStore, LogHeads, MessageFilter, RoomSummary,
};
use crate::store::rows;
use crate::store::sql::sqlite_placeholders;
use crate::store::{MessageRecord, MessageStatus, Page, StoreResult, StoredEvent};

#[async_trait]
impl DashboardStore for SqliteStore {
    async fn attempt_log(
        &self,
        project_id: &str,
        query: AttemptLogQuery,
    ) -> StoreResult<Vec<AttemptLogEntry>> {
        let (project_id, ids) = (project_id.to_owned(), self.ids.clone());
        self.read(move |conn| {
            conn.prepare_cached(&sqlite_placeholders(dashboard::ATTEMPT_LOG))?
                .query_map(
                    params![
                        project_id,
                        query.since.0,
                        query.after_id,
                        query.endpoint_id,
                        query.limit as i64
                    ],
                    |row| dashboard::attempt_log_entry(row, &ids),
                )?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .await
    }

    async fn project_queue(&self, project_id: &str) -> StoreResult<Vec<(MessageStatus, u64)>> {
        let project_id = project_id.to_owned();
        self.read(move |conn| {
            let rows = conn
                .prepare_cached(&sqlite_placeholders(dashboard::PROJECT_QUEUE))?
                .query_map([project_id], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok::<_, rusqlite::Error>(
                rows.into_iter()
                    .filter_map(|(s, n)| Some((MessageStatus::parse(&s)?, n as u64)))
                    .collect(),
            )
        })
        .await
    }

    async fn filtered_messages(
        &self,
        project_id: &str,
        filter: MessageFilter,
    ) -> StoreResult<Page<MessageRecord>> {
        let (project_id, ids) = (project_id.to_owned(), self.ids.clone());
        self.read(move |conn| {
            let rows = conn
                .prepare_cached(&sqlite_placeholders(&dashboard::filtered_messages_sql()))?
                .query_map(
                    params![
                        project_id,
                        filter.after.unwrap_or(0),
                        filter.endpoint_id,
                        filter.meeting_id,
                        filter.status.map(MessageStatus::as_str),
                        filter.limit as i64 + 1,
                        i64::MAX,
                        filter.webhook_type,
                        filter.since.map_or(i64::MIN, |t| t.0),
                        filter.until.map_or(i64::MAX, |t| t.0),
                    ],
                    |row| rows::message(row, &ids).map(|m| (m.position, m)),
                )?
                .map(|row| row.map(|(position, m)| (m, position)))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok::<_, rusqlite::Error>(Page::from_rows(rows, filter.limit))
        })
        .await
    }

    async fn event_by_id(
        &self,
        project_id: &str,
        event_id: &str,
    ) -> StoreResult<Option<StoredEvent>> {
        let Some(position) = self.ids.event_position(event_id) else {
            return Ok(None);
        };
        let (project_id, ids) = (project_id.to_owned(), self.ids.clone());
        self.read(move |conn| {
            conn.query_row(
                &sqlite_placeholders(&dashboard::event_by_position_sql()),
                params![project_id, position],
                |row| rows::event(row, &ids),
            )
            .optional()
        })
        .await
    }

    async fn room_summaries(
        &self,
        project_id: &str,
        limit: usize,
    ) -> StoreResult<Vec<RoomSummary>> {
        let project_id = project_id.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&sqlite_placeholders(dashboard::ROOM_SUMMARIES))?
                .query_map(params![project_id, limit as i64], |row| {
                    dashboard::room_summary(row)
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .await
    }

    async fn log_heads(&self, project_id: &str) -> StoreResult<LogHeads> {
        let project_id = project_id.to_owned();
        self.read(move |conn| {
            Ok::<_, rusqlite::Error>(LogHeads {
                event_position: conn.query_row(
                    &sqlite_placeholders(dashboard::EVENT_HEAD),
                    [project_id],
                    |row| row.get(0),
                )?,
                attempt_id: conn.query_row(dashboard::ATTEMPT_HEAD, [], |row| row.get(0))?,
            })
        })
        .await
    }
}
