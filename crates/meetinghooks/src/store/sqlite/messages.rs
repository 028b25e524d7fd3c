//! Reading messages and attempts in SQLite, for the API and metrics.

use rusqlite::{params, Connection, OptionalExtension};

use crate::outbox::message_position;
use crate::store::rows;
use crate::store::sql::{self, sqlite_placeholders};
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

pub fn messages(
    conn: &Connection,
    project_id: &str,
    query: &MessageQuery,
) -> rusqlite::Result<Page<MessageRecord>> {
    let rows = conn
        .prepare_cached(&sqlite_placeholders(&sql::messages_page()))?
        .query_map(
            params![
                project_id,
                query.after.unwrap_or(0),
                query.endpoint_id,
                query.meeting_id,
                query.status.map(MessageStatus::as_str),
                query.limit as i64 + 1,
                i64::MAX,
            ],
            |row| rows::message(row).map(|m| (m.position, m)),
        )?
        .map(|row| row.map(|(position, m)| (m, position)))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, query.limit))
}

pub fn message(
    conn: &Connection,
    project_id: &str,
    message_id: &str,
) -> rusqlite::Result<Option<MessageRecord>> {
    conn.prepare_cached(&sqlite_placeholders(&sql::message_by_position()))?
        .query_row(params![project_id, message_position(message_id)], |row| {
            rows::message(row)
        })
        .optional()
}

pub fn attempts(
    conn: &Connection,
    message_id: &str,
    after: Option<i64>,
    limit: usize,
) -> rusqlite::Result<Page<AttemptRecord>> {
    let rows = conn
        .prepare_cached(&sqlite_placeholders(&sql::attempts_page()))?
        .query_map(
            params![
                message_position(message_id),
                after.unwrap_or(0),
                limit as i64 + 1
            ],
            |row| rows::attempt(row).map(|a| (a.id, a)),
        )?
        .map(|row| row.map(|(id, a)| (a, id)))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, limit))
}
