//! Endpoint writes on SQLite's writer: PATCHes, deletes, the room webhooks and their secret
//! (the columns, decoding and reads are written once, in `store::endpoints`).

use rusqlite::{params, Connection, OptionalExtension};

use super::query::{run, select};
use crate::domain::endpoint::{generate_secret, Endpoint};
use crate::domain::timestamp::Timestamp;
use crate::sealing::{SealError, Sealer};
use crate::store::endpoints::{
    self as shared, get_sql, insert_sql, opened, settings_values, values, UPDATE_SETTINGS,
};
use crate::store::query::Param;
use crate::store::room_webhook_endpoint;
use crate::store::{RoomWebhook, StoreError, StoreResult};

fn unreadable(e: SealError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(13, rusqlite::types::Type::Text, Box::new(e))
}

pub fn insert(conn: &Connection, sealer: &Sealer, e: &Endpoint) -> StoreResult<()> {
    run(conn, &insert_sql(), &values(sealer, e))?;
    Ok(())
}

/// See [`UPDATE_SETTINGS`].
pub fn update_settings(conn: &Connection, sealer: &Sealer, e: &Endpoint) -> StoreResult<()> {
    run(conn, UPDATE_SETTINGS, &settings_values(sealer, e))?;
    Ok(())
}

/// One endpoint, read inside a writer job.
pub fn get(
    conn: &Connection,
    sealer: &Sealer,
    project_id: &str,
    id: &str,
) -> StoreResult<Option<Endpoint>> {
    let rows = select(
        conn,
        &get_sql(),
        &[Param::from(project_id), Param::from(id)],
    )?;
    rows.first()
        .map(|row| opened(sealer, shared::endpoint(row)?))
        .transpose()
}

/// Marks an endpoint's queued messages `skipped`, as when it is disabled.
pub fn skip_queued(conn: &Connection, endpoint_id: &str) -> StoreResult<usize> {
    Ok(conn.execute(
        "UPDATE messages SET status = 'skipped'
         WHERE endpoint_id = ?1 AND status IN ('waiting', 'pending')",
        [endpoint_id],
    )?)
}

/// The project's room-webhook secret, created on first use.
pub fn room_secret(conn: &Connection, sealer: &Sealer, project_id: &str) -> StoreResult<String> {
    let current: Option<Option<String>> = conn
        .query_row(
            "SELECT room_secret FROM projects WHERE id = ?1",
            [project_id],
            |row| row.get(0),
        )
        .optional()?;
    match current {
        None => Err(StoreError::NotFound("project")),
        Some(Some(sealed)) => Ok(sealer.open(&sealed).map_err(unreadable)?),
        Some(None) => {
            let secret = generate_secret();
            conn.execute(
                "UPDATE projects SET room_secret = ?2 WHERE id = ?1",
                params![project_id, sealer.seal(&secret)],
            )?;
            Ok(secret)
        }
    }
}

/// Creates or updates the endpoint that carries a room's own webhook.
pub fn upsert_room_webhook(
    conn: &Connection,
    sealer: &Sealer,
    project_id: &str,
    room_id: &str,
    webhook: &RoomWebhook,
    now: Timestamp,
) -> StoreResult<()> {
    let secret = room_secret(conn, sealer, project_id)?;
    let (previous, previous_until): (Option<String>, Option<i64>) = conn.query_row(
        "SELECT room_secret_previous, room_secret_previous_until FROM projects WHERE id = ?1",
        [project_id],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let events = serde_json::to_string(webhook.events.patterns()).expect("patterns serialize");
    let updated = conn.execute(
        "UPDATE endpoints SET url = ?3, events = ?4, updated_at = ?5
         WHERE project_id = ?1 AND room_id = ?2",
        params![project_id, room_id, webhook.end_point, events, now.0],
    )?;
    if updated == 0 {
        let previous = previous
            .map(|sealed| sealer.open(&sealed))
            .transpose()
            .map_err(unreadable)?;
        let previous = (previous, previous_until.map(Timestamp));
        insert(
            conn,
            sealer,
            &room_webhook_endpoint(project_id, room_id, webhook, secret, previous, now),
        )?;
    }
    Ok(())
}

/// Deletes an account endpoint with its messages and their attempts; `true` if it existed.
pub fn delete(conn: &Connection, project_id: &str, endpoint_id: &str) -> StoreResult<bool> {
    let deleted = conn.execute(
        "DELETE FROM endpoints WHERE project_id = ?1 AND id = ?2 AND room_id IS NULL",
        params![project_id, endpoint_id],
    )?;
    if deleted > 0 {
        conn.execute(
            "DELETE FROM attempts WHERE message_position IN
             (SELECT position FROM messages WHERE endpoint_id = ?1)",
            [endpoint_id],
        )?;
        conn.execute("DELETE FROM messages WHERE endpoint_id = ?1", [endpoint_id])?;
    }
    Ok(deleted > 0)
}
