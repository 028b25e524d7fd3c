//! Endpoint rows: mapping to and from `Endpoint` (secrets sealed in the row, open in memory),
//! and the room-webhook secret.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::domain::endpoint::{generate_secret, Endpoint, Ordering};
use crate::domain::signatures::Signatures;
use crate::domain::subscription::Subscription;
use crate::domain::timestamp::Timestamp;
use crate::sealing::{SealError, Sealer};
use crate::store::room_webhook_endpoint;
use crate::store::{RoomWebhook, StoreError, StoreResult};

pub const COLUMNS: &str = "id, project_id, room_id, url, description, events, ordering, rate_limit,
    headers, retry_schedule, timeout_ms, disabled, disabled_reason, secret, secret_previous,
    secret_previous_until, failing_since, last_success_at, created_at, updated_at, signatures";

fn json_column<T: serde::de::DeserializeOwned>(row: &Row<'_>, index: usize) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Reads endpoint rows with their secrets opened.
pub fn reader(sealer: &Sealer) -> impl Fn(&Row<'_>) -> rusqlite::Result<Endpoint> + '_ {
    move |row| sealer.open_endpoint(from_row(row)?).map_err(unreadable)
}

fn unreadable(e: SealError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(13, rusqlite::types::Type::Text, Box::new(e))
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Endpoint> {
    let events: Vec<String> = json_column(row, 5)?;
    let ordering: String = row.get(6)?;
    let schedule: Option<String> = row.get(9)?;
    Ok(Endpoint {
        id: row.get(0)?,
        project_id: row.get(1)?,
        room_id: row.get(2)?,
        url: row.get(3)?,
        description: row.get(4)?,
        events: Subscription::parse(events).unwrap_or_else(|_| {
            Subscription::parse(vec!["*".into()]).expect("* is a valid pattern")
        }),
        ordering: Ordering::parse(&ordering).unwrap_or_default(),
        rate_limit: row.get(7)?,
        headers: json_column(row, 8)?,
        retry_schedule: schedule.and_then(|s| serde_json::from_str(&s).ok()),
        timeout_ms: row.get::<_, Option<i64>>(10)?.map(|t| t as u64),
        disabled: row.get(11)?,
        disabled_reason: row.get(12)?,
        secret: row.get(13)?,
        secret_previous: row.get(14)?,
        secret_previous_until: row.get::<_, Option<i64>>(15)?.map(Timestamp),
        failing_since: row.get::<_, Option<i64>>(16)?.map(Timestamp),
        last_success_at: row.get::<_, Option<i64>>(17)?.map(Timestamp),
        created_at: Timestamp(row.get(18)?),
        updated_at: Timestamp(row.get(19)?),
        signatures: Signatures::from_json(&row.get::<_, String>(20)?),
    })
}

pub fn insert(conn: &Connection, sealer: &Sealer, e: &Endpoint) -> StoreResult<()> {
    let e = &sealer.seal_endpoint(e);
    conn.execute(
        &format!("INSERT INTO endpoints ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)"),
        params![
            e.id,
            e.project_id,
            e.room_id,
            e.url,
            e.description,
            serde_json::to_string(e.events.patterns()).expect("patterns serialize"),
            e.ordering.as_str(),
            e.rate_limit,
            serde_json::to_string(&e.headers).expect("headers serialize"),
            e.retry_schedule.as_ref().map(|s| serde_json::to_string(s).expect("schedule serializes")),
            e.timeout_ms.map(|t| t as i64),
            e.disabled,
            e.disabled_reason,
            e.secret,
            e.secret_previous,
            e.secret_previous_until.map(|t| t.0),
            e.failing_since.map(|t| t.0),
            e.last_success_at.map(|t| t.0),
            e.created_at.0,
            e.updated_at.0,
            e.signatures.to_json(),
        ],
    )?;
    Ok(())
}

/// Writes an endpoint's settings and delivery state in place (an UPDATE: the row, and
/// anything that refers to it, stays). Secrets and `last_success_at` are not written: rotation
/// and delivery own them.
pub fn update_settings(conn: &Connection, sealer: &Sealer, e: &Endpoint) -> StoreResult<()> {
    conn.execute(
        "UPDATE endpoints SET url = ?3, description = ?4, events = ?5, ordering = ?6,
           rate_limit = ?7, headers = ?8, retry_schedule = ?9, timeout_ms = ?10,
           disabled = ?11, disabled_reason = ?12, failing_since = ?13, updated_at = ?14,
           signatures = ?15
         WHERE project_id = ?1 AND id = ?2",
        params![
            e.project_id,
            e.id,
            sealer.seal_url(&e.url),
            e.description,
            serde_json::to_string(e.events.patterns()).expect("patterns serialize"),
            e.ordering.as_str(),
            e.rate_limit,
            serde_json::to_string(&sealer.seal_headers(&e.headers)).expect("headers serialize"),
            e.retry_schedule
                .as_ref()
                .map(|s| serde_json::to_string(s).expect("schedule serializes")),
            e.timeout_ms.map(|t| t as i64),
            e.disabled,
            e.disabled_reason,
            e.failing_since.map(|t| t.0),
            e.updated_at.0,
            e.signatures.to_json(),
        ],
    )?;
    Ok(())
}

/// Rotates an account endpoint's secret in one statement; `None` when there is no such
/// account endpoint.
pub fn rotate_secret(
    conn: &Connection,
    sealer: &Sealer,
    project_id: &str,
    id: &str,
    secret: &str,
    previous_until: Timestamp,
    now: Timestamp,
) -> StoreResult<Option<Endpoint>> {
    Ok(conn
        .prepare_cached(&format!(
            "UPDATE endpoints SET secret_previous = secret, secret = ?3,
               secret_previous_until = ?4, updated_at = ?5
             WHERE project_id = ?1 AND id = ?2 AND room_id IS NULL RETURNING {COLUMNS}"
        ))?
        .query_row(
            params![project_id, id, sealer.seal(secret), previous_until.0, now.0],
            reader(sealer),
        )
        .optional()?)
}

/// A project's endpoints in creation order, or with `None` every endpoint (the dispatcher's).
pub fn list(
    conn: &Connection,
    sealer: &Sealer,
    project_id: Option<&str>,
) -> rusqlite::Result<Vec<Endpoint>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM endpoints WHERE ?1 IS NULL OR project_id = ?1
         ORDER BY created_at, id"
    ))?
    .query_map([project_id], reader(sealer))?
    .collect()
}

pub fn get(
    conn: &Connection,
    sealer: &Sealer,
    project_id: &str,
    id: &str,
) -> StoreResult<Option<Endpoint>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM endpoints WHERE project_id = ?1 AND id = ?2"
        ))?
        .query_row(params![project_id, id], reader(sealer))
        .optional()?)
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
        params![
            project_id,
            room_id,
            sealer.seal_url(&webhook.end_point),
            events,
            now.0
        ],
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

/// Seals what is still unsealed or sealed with a previous key, at start, in one transaction:
/// endpoint secrets, header values and URL credentials, the projects' room secrets, and
/// credentials left in the clear in rooms' webhook settings.
pub fn reseal_all(conn: &mut Connection, sealer: &Sealer) -> anyhow::Result<usize> {
    let tx = conn.transaction()?;
    let mut resealed = 0;
    let endpoints: Vec<(String, String, Option<String>, String, String)> = tx
        .prepare("SELECT id, secret, secret_previous, headers, url FROM endpoints")?
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (id, secret, previous, headers, url) in endpoints {
        let headers: std::collections::BTreeMap<String, String> = serde_json::from_str(&headers)?;
        let stale = std::iter::once(&secret)
            .chain(&previous)
            .chain(headers.values())
            .any(|value| sealer.needs_resealing(value))
            || sealer.url_needs_resealing(&url);
        if !stale {
            continue;
        }
        let headers = headers
            .into_iter()
            .map(|(name, value)| Ok((name, sealer.reseal(&value)?)))
            .collect::<Result<std::collections::BTreeMap<_, _>, SealError>>()?;
        tx.execute(
            "UPDATE endpoints SET secret = ?2, secret_previous = ?3, headers = ?4, url = ?5
             WHERE id = ?1",
            params![
                id,
                sealer.reseal(&secret)?,
                previous.map(|p| sealer.reseal(&p)).transpose()?,
                serde_json::to_string(&headers)?,
                sealer.reseal_url(&url)?
            ],
        )?;
        resealed += 1;
    }
    // A room's webhook setting is shown, never used to deliver: its credentials are dropped.
    let rooms: Vec<(String, String, String)> = tx
        .prepare("SELECT project_id, room_id, webhook FROM rooms WHERE webhook LIKE '%@%'")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (project_id, room_id, webhook) in rooms {
        let webhook: RoomWebhook = serde_json::from_str(&webhook)?;
        tx.execute(
            "UPDATE rooms SET webhook = ?3 WHERE project_id = ?1 AND room_id = ?2",
            params![project_id, room_id, serde_json::to_string(&webhook)?],
        )?;
    }
    let projects: Vec<(String, Option<String>, Option<String>)> = tx
        .prepare("SELECT id, room_secret, room_secret_previous FROM projects")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, secret, previous) in projects {
        if !secret
            .iter()
            .chain(&previous)
            .any(|v| sealer.needs_resealing(v))
        {
            continue;
        }
        tx.execute(
            "UPDATE projects SET room_secret = ?2, room_secret_previous = ?3 WHERE id = ?1",
            params![
                id,
                secret.map(|s| sealer.reseal(&s)).transpose()?,
                previous.map(|p| sealer.reseal(&p)).transpose()?
            ],
        )?;
        resealed += 1;
    }
    tx.commit()?;
    Ok(resealed)
}
