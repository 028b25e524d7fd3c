//! Reading messages and attempts in PostgreSQL, for the API and metrics.

use tokio_postgres::GenericClient;

use super::PgResult;
use crate::outbox::message_position;
use crate::store::{rows, sql};
use crate::store::{AttemptRecord, MessageQuery, MessageRecord, MessageStatus, Page};

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
        .map(|row| rows::message(row).map(|m| (m.position, m)))
        .map(|row| row.map(|(position, m)| (m, position)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(records, query.limit))
}

pub async fn message(
    client: &impl GenericClient,
    project_id: &str,
    message_id: &str,
) -> PgResult<Option<MessageRecord>> {
    let Some(position) = message_position(message_id) else {
        return Ok(None);
    };
    let row = client
        .query_opt(&sql::message_by_position(), &[&project_id, &position])
        .await?;
    Ok(row.as_ref().map(rows::message).transpose()?)
}

pub async fn attempts(
    client: &impl GenericClient,
    message_id: &str,
    after: Option<i64>,
    limit: usize,
) -> PgResult<Page<AttemptRecord>> {
    let rows = client
        .query(
            &sql::attempts_page(),
            &[
                &message_position(message_id),
                &after.unwrap_or(0),
                &(limit as i64 + 1),
            ],
        )
        .await?;
    let records = rows
        .iter()
        .map(|row| rows::attempt(row).map(|a| (a.id, a)))
        .map(|row| row.map(|(id, a)| (a, id)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(records, limit))
}
