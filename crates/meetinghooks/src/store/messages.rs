//! Reading messages and attempts, for the API and metrics, written once over the shared query
//! executor.

use super::dashboard::status_count;
use super::query::{args, Positioned, Query};
use super::rows;
use super::sql;
use super::StoreResult;
use super::{AttemptRecord, MessageQuery, MessageRecord, MessageStatus, Page, StoreError};

/// Messages by status, across projects.
pub(crate) async fn queue_depth(store: &impl Query) -> StoreResult<Vec<(MessageStatus, u64)>> {
    let sql = "SELECT status, COUNT(*) FROM messages GROUP BY status";
    let rows = store.all(sql, args![], status_count).await?;
    Ok(rows.into_iter().flatten().collect())
}

/// The project's messages, oldest first, after `query.after`, up to the settled position.
pub(crate) async fn messages(
    store: &impl Query,
    project_id: &str,
    query: &MessageQuery,
) -> StoreResult<Page<MessageRecord>> {
    let settled = store.settled(Positioned::Messages).await?;
    let params = args![
        project_id,
        query.after.unwrap_or(0),
        query.endpoint_id.as_deref(),
        query.meeting_id.as_deref(),
        query.status.map(MessageStatus::as_str),
        query.limit as i64 + 1,
        settled,
    ];
    let ids = store.ids();
    let rows = store
        .all(&sql::messages_page(), params, |row| {
            rows::message(row, ids).map(|m| (m.position, m))
        })
        .await?;
    let rows = rows.into_iter().map(|(position, m)| (m, position));
    Ok(Page::from_rows(rows.collect(), query.limit))
}

/// A message by its public id; `None` for an id of no message of the project.
pub(crate) async fn by_id(
    store: &impl Query,
    project_id: &str,
    message_id: &str,
) -> StoreResult<Option<MessageRecord>> {
    let ids = store.ids();
    let Some(position) = ids.message_position(message_id) else {
        return Ok(None);
    };
    let params = args![project_id, position];
    store
        .first(&sql::message_by_position(), params, |row| {
            rows::message(row, ids)
        })
        .await
}

/// A message's attempts by its public id; `NotFound` for an id of no message of the project.
pub(crate) async fn attempts_by_id(
    store: &impl Query,
    project_id: &str,
    message_id: &str,
    after: Option<i64>,
    limit: usize,
) -> StoreResult<Page<AttemptRecord>> {
    let not_found = || StoreError::NotFound("message");
    let position = store
        .ids()
        .message_position(message_id)
        .ok_or_else(not_found)?;
    by_id(store, project_id, message_id)
        .await?
        .ok_or_else(not_found)?;
    let params = args![position, after.unwrap_or(0), limit as i64 + 1];
    let rows = store
        .all(&sql::attempts_page(), params, |row| {
            rows::attempt(row).map(|a| (a.id, a)).map(|(id, a)| (a, id))
        })
        .await?;
    Ok(Page::from_rows(rows, limit))
}
