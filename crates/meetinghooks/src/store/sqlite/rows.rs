//! Row mappers the SQLite store's reads share.

use rusqlite::Connection;

use super::meeting;
use crate::domain::timestamp::Timestamp;
use crate::engine::SessionState;
use crate::store::{Project, Room, SessionRecord, StoredEvent};

pub(super) fn project_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project {
        id: row.get(0)?,
        name: row.get(1)?,
    })
}

pub(super) fn room_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Room> {
    let custom: bool = row.get(1)?;
    let room_id: String = row.get(0)?;
    let webhook: Option<String> = row.get(2)?;
    Ok(Room {
        custom_room_id: custom.then(|| room_id.clone()),
        room_id,
        webhook: webhook.and_then(|w| serde_json::from_str(&w).ok()),
        created_at: Timestamp(row.get(3)?),
    })
}

pub(super) fn session_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRecord> {
    let doc: String = row.get(1)?;
    let session: SessionState = serde_json::from_str(&doc).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(SessionRecord {
        room_id: row.get(0)?,
        session,
        participants: Vec::new(),
    })
}

/// Fills in each session's participants.
pub(super) fn with_participants(
    conn: &Connection,
    project_id: &str,
    mut record: SessionRecord,
) -> rusqlite::Result<SessionRecord> {
    record.participants = meeting::session_participants(conn, project_id, &record.session.id)?;
    Ok(record)
}

pub(super) fn event_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        position: row.get(0)?,
        id: crate::outbox::event_id(row.get(1)?),
        meeting_id: row.get(2)?,
        session_id: row.get(3)?,
        sequence: row.get::<_, i64>(4)? as u64,
        webhook_type: row.get(5)?,
        payload: row.get(6)?,
        created_at: Timestamp(row.get(7)?),
    })
}
