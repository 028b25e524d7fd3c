//! Reading messages and attempts in PostgreSQL, for the API and metrics.

use tokio_postgres::GenericClient;

use super::{PgResult, PostgresStore};
use crate::domain::public_ids::PublicIds;
use crate::store::{rows, sql};
use crate::store::{
    AttemptRecord, MessageQuery, MessageRecord, MessageStatus, Page, StoreError, StoreResult,
};

pub async fn queue_depth(client: &impl GenericClient) -> PgResult<Vec<(MessageStatus, u64)>> {
    let rows = client
        .query("SELECT status, COUNT(*) FROM messages GROUP BY status", &[])
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let status = MessageStatus::parse(row.get(0))?;
            Some((status, row.get::<_, i64>(1) as u64))
        })
        .collect())
}

pub async fn messages(
    client: &impl GenericClient,
    ids: &PublicIds,
    project_id: &str,
    query: &MessageQuery,
) -> PgResult<Page<MessageRecord>> {
    let settled = super::rows::settled_position(client, "messages").await?;
    let rows = client
        .query(
            &sql::messages_page(),
            &[
                &project_id,
                &query.after.unwrap_or(0),
                &query.endpoint_id,
                &query.meeting_id,
                &query.status.map(MessageStatus::as_str),
                &(query.limit as i64 + 1),
                &settled,
            ],
        )
        .await?;
    let records = rows
        .iter()
        .map(|row| rows::message(row, ids).map(|m| (m.position, m)))
        .map(|row| row.map(|(position, m)| (m, position)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(records, query.limit))
}

pub async fn message(
    client: &impl GenericClient,
    ids: &PublicIds,
    project_id: &str,
    position: i64,
) -> PgResult<Option<MessageRecord>> {
    let row = client
        .query_opt(&sql::message_by_position(), &[&project_id, &position])
        .await?;
    Ok(row
        .as_ref()
        .map(|row| rows::message(row, ids))
        .transpose()?)
}

pub async fn attempts(
    client: &impl GenericClient,
    position: i64,
    after: Option<i64>,
    limit: usize,
) -> PgResult<Page<AttemptRecord>> {
    let rows = client
        .query(
            &sql::attempts_page(),
            &[&position, &after.unwrap_or(0), &(limit as i64 + 1)],
        )
        .await?;
    let records = rows
        .iter()
        .map(|row| rows::attempt(row).map(|a| (a.id, a)))
        .map(|row| row.map(|(id, a)| (a, id)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(records, limit))
}

/// A message by its public id; `None` for an id of no message of the project.
pub(super) async fn by_id(
    store: &PostgresStore,
    project_id: &str,
    message_id: &str,
) -> StoreResult<Option<MessageRecord>> {
    let Some(position) = store.ids.message_position(message_id) else {
        return Ok(None);
    };
    let client = store.client().await?;
    Ok(message(&**client, &store.ids, project_id, position).await?)
}

/// A message's attempts by its public id; `NotFound` for an id of no message of the project.
pub(super) async fn attempts_by_id(
    store: &PostgresStore,
    project_id: &str,
    message_id: &str,
    after: Option<i64>,
    limit: usize,
) -> StoreResult<Page<AttemptRecord>> {
    let position = store
        .ids
        .message_position(message_id)
        .ok_or(StoreError::NotFound("message"))?;
    let client = store.client().await?;
    if message(&**client, &store.ids, project_id, position)
        .await?
        .is_none()
    {
        return Err(StoreError::NotFound("message"));
    }
    Ok(attempts(&**client, position, after, limit).await?)
}
