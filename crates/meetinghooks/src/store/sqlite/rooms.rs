//! Rooms (meetings) and their own webhook setting.

use rusqlite::{params, Connection, OptionalExtension};

use super::endpoints;
use crate::domain::timestamp::Timestamp;
use crate::sealing::Sealer;
use crate::store::rows::{self, ROOM_COLUMNS};
use crate::store::{Room, RoomSettings, StoreResult};

/// Creates the room, or sets the webhook of an existing one; `true` when it was created.
pub(super) fn upsert(
    conn: &Connection,
    sealer: &Sealer,
    project_id: &str,
    room_id: &str,
    custom: bool,
    RoomSettings {
        webhook,
        auto_close,
    }: RoomSettings,
) -> StoreResult<(Room, bool)> {
    let webhook_json = webhook
        .as_ref()
        .map(|w| serde_json::to_string(w).expect("webhook serializes"));
    let auto_close = auto_close.map(|a| serde_json::to_string(&a).expect("config serializes"));
    let now = Timestamp::now().0;
    let created = conn.execute(
        "INSERT OR IGNORE INTO rooms
           (project_id, room_id, custom, webhook, state, created_at, updated_at, auto_close)
         VALUES (?1, ?2, ?3, ?4, '{}', ?5, ?5, ?6)",
        params![project_id, room_id, custom, webhook_json, now, auto_close],
    )? == 1;
    if !created && (webhook_json.is_some() || auto_close.is_some()) {
        conn.execute(
            "UPDATE rooms SET webhook = coalesce(?3, webhook), auto_close = coalesce(?4, auto_close),
               updated_at = ?5
             WHERE project_id = ?1 AND room_id = ?2",
            params![project_id, room_id, webhook_json, auto_close, now],
        )?;
    }
    if let Some(webhook) = &webhook {
        endpoints::upsert_room_webhook(
            conn,
            sealer,
            project_id,
            room_id,
            webhook,
            Timestamp::now(),
        )?;
    }
    let room = get(conn, project_id, room_id)?.expect("the room was just written");
    Ok((room, created))
}

/// One room.
pub(super) fn get(
    conn: &Connection,
    project_id: &str,
    room_id: &str,
) -> rusqlite::Result<Option<Room>> {
    conn.query_row(
        &format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE project_id = ?1 AND room_id = ?2"),
        params![project_id, room_id],
        |row| rows::room(row),
    )
    .optional()
}
