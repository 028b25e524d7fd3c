//! Reading sessions and the event log (the listings the API pages through).

use super::error::PgError;
use super::rows::{session_records, settled_position};
use super::PostgresStore;
use crate::store::rows;
use crate::store::sql;
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
            sql::SESSIONS_PAGE,
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
        .query(sql::SESSION_BY_ID, &[&project_id, &session_id])
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
            &sql::events_page(),
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
        .map(|row| rows::event(row).map(|event| (event.position, event)))
        .map(|row| row.map(|(position, event)| (event, position)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(PgError::from)?;
    Ok(Page::from_rows(events, query.limit))
}
