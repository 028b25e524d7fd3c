//! Reading messages and attempts in SQLite, for the API and metrics.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::domain::timestamp::Timestamp;
use crate::outbox::{event_id, message_id, message_position};
use crate::store::{AttemptRecord, MessageQuery, MessageRecord, MessageStatus, Page};

pub fn queue_depth(conn: &Connection) -> rusqlite::Result<Vec<(MessageStatus, u64)>> {
    let mut stmt = conn.prepare_cached("SELECT status, COUNT(*) FROM messages GROUP BY status")?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (status, count) = row?;
        if let Some(status) = MessageStatus::parse(&status) {
            out.push((status, count as u64));
        }
    }
    Ok(out)
}

const MESSAGE_COLUMNS: &str =
    "m.position, m.position, m.endpoint_id, e.position, m.room_id, e.sequence,
    e.webhook_type, m.status, m.attempts, m.due_at, m.created_at, m.last_attempt_at,
    m.last_status_code, m.last_error, m.last_error_kind";

fn message_from_row(row: &Row<'_>) -> rusqlite::Result<MessageRecord> {
    let status: String = row.get(7)?;
    Ok(MessageRecord {
        id: message_id(row.get(0)?),
        position: row.get(1)?,
        endpoint_id: row.get(2)?,
        event_id: event_id(row.get(3)?),
        meeting_id: row.get(4)?,
        sequence: row.get::<_, i64>(5)? as u64,
        webhook_type: row.get(6)?,
        status: MessageStatus::parse(&status).unwrap_or(MessageStatus::Pending),
        attempts: row.get(8)?,
        due_at: Timestamp(row.get(9)?),
        created_at: Timestamp(row.get(10)?),
        last_attempt_at: row.get::<_, Option<i64>>(11)?.map(Timestamp),
        last_status_code: row.get(12)?,
        last_error: row.get(13)?,
        last_error_kind: row.get(14)?,
    })
}

pub fn messages(
    conn: &Connection,
    project_id: &str,
    query: &MessageQuery,
) -> rusqlite::Result<Page<MessageRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN events e ON e.position = m.event_position
         WHERE m.project_id = ?1 AND m.position > ?2
           AND (?3 IS NULL OR m.endpoint_id = ?3)
           AND (?4 IS NULL OR m.room_id = ?4)
           AND (?5 IS NULL OR m.status = ?5)
         ORDER BY m.position LIMIT ?6"
    ))?;
    let rows = stmt
        .query_map(
            params![
                project_id,
                query.after.unwrap_or(0),
                query.endpoint_id,
                query.meeting_id,
                query.status.map(MessageStatus::as_str),
                query.limit as i64 + 1
            ],
            |row| {
                let m = message_from_row(row)?;
                let position = m.position;
                Ok((m, position))
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, query.limit))
}

pub fn message(
    conn: &Connection,
    project_id: &str,
    message_id: &str,
) -> rusqlite::Result<Option<MessageRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN events e ON e.position = m.event_position
         WHERE m.project_id = ?1 AND m.position = ?2"
    ))?
    .query_row(
        params![project_id, message_position(message_id)],
        message_from_row,
    )
    .optional()
}

pub fn attempts(
    conn: &Connection,
    message_id: &str,
    after: Option<i64>,
    limit: usize,
) -> rusqlite::Result<Page<AttemptRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, attempted_at, duration_ms, status_code, error_kind, response_body
         FROM attempts WHERE message_position = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(
            params![
                message_position(message_id),
                after.unwrap_or(0),
                limit as i64 + 1
            ],
            |row| {
                let record = AttemptRecord {
                    id: row.get(0)?,
                    attempted_at: Timestamp(row.get(1)?),
                    duration_ms: row.get::<_, i64>(2)? as u64,
                    status_code: row.get(3)?,
                    error_kind: row.get(4)?,
                    response_body: row.get::<_, Option<String>>(5)?.unwrap_or_default(),
                };
                let id = record.id;
                Ok((record, id))
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, limit))
}
