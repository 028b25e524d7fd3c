//! Reading messages and attempts in PostgreSQL, for the API and metrics.

use tokio_postgres::{GenericClient, Row};

use super::PgResult;
use crate::domain::timestamp::Timestamp;
use crate::outbox::{event_id, message_id, message_position};
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

const MESSAGE_COLUMNS: &str = "m.position, m.endpoint_id, e.position, m.room_id, e.sequence,
    e.webhook_type, m.status, m.attempts, m.due_at, m.created_at, m.last_attempt_at,
    m.last_status_code, m.last_error, m.last_error_kind";

fn message_from_row(row: &Row) -> MessageRecord {
    let position: i64 = row.get(0);
    MessageRecord {
        id: message_id(position),
        position,
        endpoint_id: row.get(1),
        event_id: event_id(row.get(2)),
        meeting_id: row.get(3),
        sequence: row.get::<_, i64>(4) as u64,
        webhook_type: row.get(5),
        status: MessageStatus::parse(row.get(6)).unwrap_or(MessageStatus::Pending),
        attempts: row.get::<_, i32>(7) as u32,
        due_at: Timestamp(row.get(8)),
        created_at: Timestamp(row.get(9)),
        last_attempt_at: row.get::<_, Option<i64>>(10).map(Timestamp),
        last_status_code: row.get::<_, Option<i32>>(11).map(|c| c as u16),
        last_error: row.get(12),
        last_error_kind: row.get(13),
    }
}

pub async fn messages(
    client: &impl GenericClient,
    project_id: &str,
    query: &MessageQuery,
) -> PgResult<Page<MessageRecord>> {
    let settled = super::rows::settled_position(client, "messages").await?;
    let rows = client
        .query(
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN events e ON e.position = m.event_position
                 WHERE m.project_id = $1 AND m.position > $2 AND m.position <= $7
                   AND ($3::TEXT IS NULL OR m.endpoint_id = $3)
                   AND ($4::TEXT IS NULL OR m.room_id = $4)
                   AND ($5::TEXT IS NULL OR m.status = $5)
                 ORDER BY m.position LIMIT $6"
            ),
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
        .map(|row| {
            let record = message_from_row(row);
            let position = record.position;
            (record, position)
        })
        .collect();
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
        .query_opt(
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN events e ON e.position = m.event_position
                 WHERE m.project_id = $1 AND m.position = $2"
            ),
            &[&project_id, &position],
        )
        .await?;
    Ok(row.as_ref().map(message_from_row))
}

pub async fn attempts(
    client: &impl GenericClient,
    message_id: &str,
    after: Option<i64>,
    limit: usize,
) -> PgResult<Page<AttemptRecord>> {
    let rows = client
        .query(
            "SELECT id, attempted_at, duration_ms, status_code, error_kind, response_body
             FROM attempts WHERE message_position = $1 AND id > $2 ORDER BY id LIMIT $3",
            &[
                &message_position(message_id),
                &after.unwrap_or(0),
                &(limit as i64 + 1),
            ],
        )
        .await?;
    let records = rows
        .iter()
        .map(|row| {
            let record = AttemptRecord {
                id: row.get(0),
                attempted_at: Timestamp(row.get(1)),
                duration_ms: row.get::<_, i64>(2) as u64,
                status_code: row.get::<_, Option<i32>>(3).map(|c| c as u16),
                error_kind: row.get(4),
                response_body: row.get::<_, Option<String>>(5).unwrap_or_default(),
            };
            let id = record.id;
            (record, id)
        })
        .collect();
    Ok(Page::from_rows(records, limit))
}
