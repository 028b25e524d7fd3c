//! The dashboard's reads on PostgreSQL ([`DashboardStore`]); listings stop at the settled
//! position like the API's, so the log's cursor never skips a row.

use async_trait::async_trait;

use super::error::PgError;
use super::rows::settled_position;
use super::PostgresStore;
use crate::store::dashboard::{
    self, AttemptLogEntry, AttemptLogQuery, DashboardStore, LogHeads, MessageFilter, RoomSummary,
};
use crate::store::rows;
use crate::store::{MessageRecord, MessageStatus, Page, StoreResult, StoredEvent};

#[async_trait]
impl DashboardStore for PostgresStore {
    async fn attempt_log(
        &self,
        project_id: &str,
        query: AttemptLogQuery,
    ) -> StoreResult<Vec<AttemptLogEntry>> {
        let client = self.client().await?;
        let rows = client
            .query(
                dashboard::ATTEMPT_LOG,
                &[
                    &project_id,
                    &query.since.0,
                    &query.after_id,
                    &query.endpoint_id,
                    &(query.limit as i64),
                ],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows
            .iter()
            .map(|row| dashboard::attempt_log_entry(row, &self.ids))
            .collect::<Result<Vec<_>, _>>()
            .map_err(PgError::from)?)
    }

    async fn project_queue(&self, project_id: &str) -> StoreResult<Vec<(MessageStatus, u64)>> {
        let client = self.client().await?;
        let rows = client
            .query(dashboard::PROJECT_QUEUE, &[&project_id])
            .await
            .map_err(PgError::from)?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let status = MessageStatus::parse(row.get(0))?;
                Some((status, row.get::<_, i64>(1) as u64))
            })
            .collect())
    }

    async fn filtered_messages(
        &self,
        project_id: &str,
        filter: MessageFilter,
    ) -> StoreResult<Page<MessageRecord>> {
        let client = self.client().await?;
        let settled = settled_position(&**client, "messages").await?;
        let rows = client
            .query(
                &dashboard::filtered_messages_sql(),
                &[
                    &project_id,
                    &filter.after.unwrap_or(0),
                    &filter.endpoint_id,
                    &filter.meeting_id,
                    &filter.status.map(MessageStatus::as_str),
                    &(filter.limit as i64 + 1),
                    &settled,
                    &filter.webhook_type,
                    &filter.since.map_or(i64::MIN, |t| t.0),
                    &filter.until.map_or(i64::MAX, |t| t.0),
                ],
            )
            .await
            .map_err(PgError::from)?;
        let records = rows
            .iter()
            .map(|row| rows::message(row, &self.ids).map(|m| (m.position, m)))
            .map(|row| row.map(|(position, m)| (m, position)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(PgError::from)?;
        Ok(Page::from_rows(records, filter.limit))
    }

    async fn event_by_id(
        &self,
        project_id: &str,
        event_id: &str,
    ) -> StoreResult<Option<StoredEvent>> {
        let Some(position) = self.ids.event_position(event_id) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let row = client
            .query_opt(
                &dashboard::event_by_position_sql(),
                &[&project_id, &position],
            )
            .await
            .map_err(PgError::from)?;
        Ok(row
            .as_ref()
            .map(|row| rows::event(row, &self.ids))
            .transpose()
            .map_err(PgError::from)?)
    }

    async fn room_summaries(
        &self,
        project_id: &str,
        limit: usize,
    ) -> StoreResult<Vec<RoomSummary>> {
        let client = self.client().await?;
        let rows = client
            .query(dashboard::ROOM_SUMMARIES, &[&project_id, &(limit as i64)])
            .await
            .map_err(PgError::from)?;
        Ok(rows
            .iter()
            .map(dashboard::room_summary)
            .collect::<Result<Vec<_>, _>>()
            .map_err(PgError::from)?)
    }

    /// Events start at the settled position, so one committing below the head is not missed.
    async fn log_heads(&self, project_id: &str) -> StoreResult<LogHeads> {
        let client = self.client().await?;
        let head: i64 = client
            .query_one(dashboard::EVENT_HEAD, &[&project_id])
            .await
            .map_err(PgError::from)?
            .get(0);
        let settled = settled_position(&**client, "events").await?;
        let attempt_id: i64 = client
            .query_one(dashboard::ATTEMPT_HEAD, &[])
            .await
            .map_err(PgError::from)?
            .get(0);
        Ok(LogHeads {
            event_position: head.min(settled),
            attempt_id,
        })
    }
}
