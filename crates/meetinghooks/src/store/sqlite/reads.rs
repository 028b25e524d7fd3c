//! Reading sessions and the event log (the listings the API pages through).

use rusqlite::{params, Connection, OptionalExtension};

use super::rows::{event_from_row, session_from_row, with_participants};
use crate::store::{EventQuery, Page, SessionRecord, StoredEvent};

/// A room's sessions, newest first, before the `before` position.
pub(super) fn sessions(
    conn: &Connection,
    project_id: &str,
    room_id: &str,
    before: Option<i64>,
    limit: usize,
) -> rusqlite::Result<Page<SessionRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT room_id, doc, position FROM sessions
         WHERE project_id = ?1 AND room_id = ?2 AND position < ?3
         ORDER BY position DESC LIMIT ?4",
    )?;
    let rows = stmt
        .query_map(
            params![
                project_id,
                room_id,
                before.unwrap_or(i64::MAX),
                limit as i64 + 1
            ],
            |row| Ok((session_from_row(row)?, row.get::<_, i64>(2)?)),
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let rows = rows
        .into_iter()
        .map(|(r, p)| Ok((with_participants(conn, project_id, r)?, p)))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, limit))
}

/// One session with its participants.
pub(super) fn session(
    conn: &Connection,
    project_id: &str,
    session_id: &str,
) -> rusqlite::Result<Option<SessionRecord>> {
    conn.query_row(
        "SELECT room_id, doc FROM sessions WHERE project_id = ?1 AND session_id = ?2",
        params![project_id, session_id],
        session_from_row,
    )
    .optional()?
    .map(|r| with_participants(conn, project_id, r))
    .transpose()
}

/// The event log, oldest first, after `query.after`.
pub(super) fn events(
    conn: &Connection,
    project_id: &str,
    query: EventQuery,
) -> rusqlite::Result<Page<StoredEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT position, position, room_id, session_id, sequence, webhook_type, payload, created_at
         FROM events
         WHERE project_id = ?1 AND position > ?2
           AND (?3 IS NULL OR room_id = ?3)
           AND (?4 IS NULL OR session_id = ?4)
           AND (?5 IS NULL OR webhook_type = ?5)
         ORDER BY position LIMIT ?6",
    )?;
    let rows = stmt
        .query_map(
            params![
                project_id,
                query.after.unwrap_or(0),
                query.meeting_id,
                query.session_id,
                query.webhook_type,
                query.limit as i64 + 1
            ],
            |row| {
                let event = event_from_row(row)?;
                let position = event.position;
                Ok((event, position))
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, query.limit))
}
