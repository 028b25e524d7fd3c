//! Reading sessions and the event log (the listings the API pages through).

use super::error::PgError;
use super::rows::{event_from_row, session_records, settled_position};
use super::PostgresStore;
use crate::store::{EventQuery, Page, SessionRecord, StoreResult, StoredEvent};

pub(super) async fn sessions(
    store: &PostgresStore,
    project_id: &str,
    room_id: &str,
    before: Option<i64>,
    limit: usize,
) -> StoreResult<Page<SessionRecord>> {
    let client = store.client().await?;
    let rows = client
        .query(
            "SELECT room_id, doc, position FROM sessions
             WHERE project_id = $1 AND room_id = $2 AND position < $3
             ORDER BY position DESC LIMIT $4",
            &[
                &project_id,
                &room_id,
                &before.unwrap_or(i64::MAX),
                &(limit as i64 + 1),
            ],
        )
        .await
        .map_err(PgError::from)?;
    let records = session_records(&**client, project_id, rows).await?;
    Ok(Page::from_rows(records, limit))
}

pub(super) async fn session(
    store: &PostgresStore,
    project_id: &str,
    session_id: &str,
) -> StoreResult<Option<SessionRecord>> {
    let client = store.client().await?;
    let rows = client
        .query(
            "SELECT room_id, doc, position FROM sessions
             WHERE project_id = $1 AND session_id = $2",
            &[&project_id, &session_id],
        )
        .await
        .map_err(PgError::from)?;
    let records = session_records(&**client, project_id, rows).await?;
    Ok(records.into_iter().next().map(|(record, _)| record))
}

pub(super) async fn events(
    store: &PostgresStore,
    project_id: &str,
    query: EventQuery,
) -> StoreResult<Page<StoredEvent>> {
    let client = store.client().await?;
    let settled = settled_position(&**client, "events").await?;
    let rows = client
        .query(
            "SELECT position, room_id, session_id, sequence, webhook_type, payload, created_at
             FROM events
             WHERE project_id = $1 AND position > $2 AND position <= $7
               AND ($3::TEXT IS NULL OR room_id = $3)
               AND ($4::TEXT IS NULL OR session_id = $4)
               AND ($5::TEXT IS NULL OR webhook_type = $5)
             ORDER BY position LIMIT $6",
            &[
                &project_id,
                &query.after.unwrap_or(0),
                &query.meeting_id,
                &query.session_id,
                &query.webhook_type,
                &(query.limit as i64 + 1),
                &settled,
            ],
        )
        .await
        .map_err(PgError::from)?;
    let events = rows
        .iter()
        .map(|row| {
            let event = event_from_row(row);
            let position = event.position;
            (event, position)
        })
        .collect();
    Ok(Page::from_rows(events, query.limit))
}
