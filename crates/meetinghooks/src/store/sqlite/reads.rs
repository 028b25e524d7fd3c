//! Reading sessions and the event log (the listings the API pages through).

use rusqlite::{params, Connection, OptionalExtension};

use super::meeting::session_participants;
use crate::domain::public_ids::PublicIds;
use crate::store::rows::{self, Columns};
use crate::store::sql::{self, sqlite_placeholders};
use crate::store::{EventQuery, Page, SessionRecord, StoredEvent};

pub(super) fn with_participants(
    conn: &Connection,
    project_id: &str,
    mut record: SessionRecord,
) -> rusqlite::Result<SessionRecord> {
    record.participants = session_participants(conn, project_id, &record.session.id)?;
    Ok(record)
}

/// A room's sessions, newest first, before the `before` position.
pub(super) fn sessions(
    conn: &Connection,
    project_id: &str,
    room_id: &str,
    before: Option<i64>,
    limit: usize,
) -> rusqlite::Result<Page<SessionRecord>> {
    let before = before.unwrap_or(i64::MAX);
    let rows = conn
        .prepare_cached(&sqlite_placeholders(sql::SESSIONS_PAGE))?
        .query_map(
            params![project_id, room_id, before, limit as i64 + 1],
            |row| Ok((rows::session(row)?, row.int(2)?)),
        )?
        .map(|row| {
            let (record, position) = row?;
            Ok((with_participants(conn, project_id, record)?, position))
        })
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
        &sqlite_placeholders(sql::SESSION_BY_ID),
        params![project_id, session_id],
        |row| rows::session(row),
    )
    .optional()?
    .map(|r| with_participants(conn, project_id, r))
    .transpose()
}

/// The event log, oldest first, after `query.after`.
pub(super) fn events(
    conn: &Connection,
    ids: &PublicIds,
    project_id: &str,
    query: EventQuery,
) -> rusqlite::Result<Page<StoredEvent>> {
    let rows = conn
        .prepare_cached(&sqlite_placeholders(&sql::events_page()))?
        .query_map(
            params![
                project_id,
                query.after.unwrap_or(0),
                query.meeting_id,
                query.session_id,
                query.webhook_type,
                query.limit as i64 + 1,
                i64::MAX,
            ],
            |row| rows::event(row, ids).map(|event| (event.position, event)),
        )?
        .map(|row| row.map(|(position, event)| (event, position)))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, query.limit))
}
