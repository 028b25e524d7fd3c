//! Reading messages and attempts in SQLite, for the API and metrics.

use rusqlite::{params, Connection, OptionalExtension};

use super::SqliteStore;
use crate::domain::public_ids::PublicIds;
use crate::store::rows;
use crate::store::sql::{self, sqlite_placeholders};
use crate::store::{
    AttemptRecord, MessageQuery, MessageRecord, MessageStatus, Page, StoreError, StoreResult,
};

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
    ids: &PublicIds,
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
            |row| rows::message(row, ids).map(|m| (m.position, m)),
        )?
        .map(|row| row.map(|(position, m)| (m, position)))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, query.limit))
}

pub fn message(
    conn: &Connection,
    ids: &PublicIds,
    project_id: &str,
    position: i64,
) -> rusqlite::Result<Option<MessageRecord>> {
    conn.prepare_cached(&sqlite_placeholders(&sql::message_by_position()))?
        .query_row(params![project_id, position], |row| rows::message(row, ids))
        .optional()
}

pub fn attempts(
    conn: &Connection,
    position: i64,
    after: Option<i64>,
    limit: usize,
) -> rusqlite::Result<Page<AttemptRecord>> {
    let rows = conn
        .prepare_cached(&sqlite_placeholders(&sql::attempts_page()))?
        .query_map(
            params![position, after.unwrap_or(0), limit as i64 + 1],
            |row| rows::attempt(row).map(|a| (a.id, a)),
        )?
        .map(|row| row.map(|(id, a)| (a, id)))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, limit))
}

/// A message by its public id; `None` for an id of no message of the project.
pub(super) async fn by_id(
    store: &SqliteStore,
    project_id: &str,
    message_id: &str,
) -> StoreResult<Option<MessageRecord>> {
    let Some(position) = store.ids.message_position(message_id) else {
        return Ok(None);
    };
    let (project_id, ids) = (project_id.to_owned(), store.ids.clone());
    store
        .read(move |conn| message(conn, &ids, &project_id, position))
        .await
}

/// A message's attempts by its public id; `NotFound` for an id of no message of the project.
pub(super) async fn attempts_by_id(
    store: &SqliteStore,
    project_id: &str,
    message_id: &str,
    after: Option<i64>,
    limit: usize,
) -> StoreResult<Page<AttemptRecord>> {
    let position = store
        .ids
        .message_position(message_id)
        .ok_or(StoreError::NotFound("message"))?;
    let (project_id, ids) = (project_id.to_owned(), store.ids.clone());
    store
        .read(move |conn| {
            if message(conn, &ids, &project_id, position)?.is_none() {
                return Ok(None);
            }
            attempts(conn, position, after, limit).map(Some)
        })
        .await?
        .ok_or(StoreError::NotFound("message"))
}
