//! Putting messages back in SQLite: `recover`, the repair of stranded queues, a manual
//! resend, and test messages.

use rusqlite::{params, Connection, OptionalExtension};

use super::delivery::{leased_from_row, promote, queue_busy, queue_head, LEASED_COLUMNS};
use crate::domain::timestamp::Timestamp;
use crate::outbox::{self, message_id, message_position, QueueKey, Recoverable};
use crate::store::sql;
use crate::store::{Leased, MessageStatus, StoreError, StoreResult};

/// Re-queues recoverable messages as [`outbox::plan_recover`] says, then repairs the
/// endpoint's queues.
pub fn recover(
    conn: &Connection,
    endpoint_id: &str,
    since: Timestamp,
    now: Timestamp,
) -> StoreResult<usize> {
    let ordered: bool = conn.query_row(
        "SELECT ordering != 'none' FROM endpoints WHERE id = ?1",
        [endpoint_id],
        |row| row.get(0),
    )?;
    let found: Vec<(i64, String)> = conn
        .prepare_cached(&format!(
            "SELECT position, room_id FROM messages
             WHERE endpoint_id = ?1 AND created_at >= ?2 AND status IN {}
             ORDER BY position",
            sql::RECOVERABLE
        ))?
        .query_map(params![endpoint_id, since.0], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let found: Vec<Recoverable<'_>> = found
        .iter()
        .map(|(position, room_id)| Recoverable {
            position: *position,
            room_id,
        })
        .collect();
    let requeued = outbox::plan_recover(ordered, &found);
    let mut write = conn.prepare_cached(
        "UPDATE messages SET status = ?2, ordered = ?3, due_at = ?4 WHERE position = ?1",
    )?;
    for r in &requeued {
        write.execute(params![r.position, r.status.as_str(), r.ordered, now.0])?;
    }
    // Every queue of the endpoint then moves on, those already stranded included.
    promote_stranded(conn, endpoint_id, now)?;
    Ok(requeued.len())
}

/// Moves on every queue of the endpoint whose head waits with nothing in line
/// ([`outbox::plan_repair`]): after a re-enable or a recover, and to repair a queue a
/// disable left waiting.
pub fn promote_stranded(conn: &Connection, endpoint_id: &str, now: Timestamp) -> StoreResult<()> {
    let rooms: Vec<String> = conn
        .prepare_cached(
            "SELECT DISTINCT room_id FROM messages WHERE endpoint_id = ?1 AND status = 'waiting'",
        )?
        .query_map([endpoint_id], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut heads = Vec::new();
    for room_id in &rooms {
        let queue = QueueKey {
            endpoint_id,
            room_id,
        };
        heads.extend(queue_head(conn, queue)?);
    }
    for p in outbox::plan_repair(&heads) {
        promote(conn, &p, now)?;
    }
    Ok(())
}

pub fn lease_for_resend(
    conn: &Connection,
    project_id: &str,
    message_id: &str,
    lease_until: Timestamp,
) -> StoreResult<Leased> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {LEASED_COLUMNS} FROM messages m JOIN events e ON e.position = m.event_position
             WHERE m.project_id = ?1 AND m.position = ?2"
        ))?
        .query_row(params![project_id, message_position(message_id)], |row| {
            let leased = leased_from_row(row)?;
            let status: String = row.get(8)?;
            Ok((leased, status))
        })
        .optional()?;
    let Some((mut leased, status)) = found else {
        return Err(StoreError::NotFound("message"));
    };
    let status = MessageStatus::parse(&status).unwrap_or(MessageStatus::Pending);
    let in_line = queue_busy(conn, &leased.endpoint_id, &leased.room_id)?;
    let resend_of = outbox::check_resend(status, leased.ordered, in_line)
        .map_err(|refusal| StoreError::Busy(refusal.to_string()))?;
    conn.execute(
        "UPDATE messages SET status = 'delivering', due_at = ?2 WHERE position = ?1",
        params![message_position(message_id), lease_until.0],
    )?;
    leased.resend_of = Some(resend_of);
    leased.lease_until = lease_until;
    leased.lease_left_ms = lease_until.0 - Timestamp::now().0;
    Ok(leased)
}

pub fn enqueue_test(
    conn: &Connection,
    project_id: &str,
    endpoint_id: &str,
    webhook_type: &str,
    payload: &[u8],
    now: Timestamp,
) -> StoreResult<String> {
    // Test events live in the empty meeting id, which no real meeting can have.
    let sequence: i64 = conn.query_row(
        "SELECT COALESCE(MAX(sequence), 0) + 1 FROM events WHERE project_id = ?1 AND room_id = ''",
        [project_id],
        |row| row.get(0),
    )?;
    conn.execute(
        "INSERT INTO events (project_id, room_id, session_id, sequence, webhook_type, payload, created_at)
         VALUES (?1, '', '', ?2, ?3, ?4, ?5)",
        params![project_id, sequence, webhook_type, payload, now.0],
    )?;
    let position = conn.last_insert_rowid();
    conn.execute(
        "INSERT INTO messages (project_id, endpoint_id, event_position, room_id, ordered, status, due_at, created_at)
         VALUES (?1, ?2, ?3, '', 0, 'pending', ?4, ?4)",
        params![project_id, endpoint_id, position, now.0],
    )?;
    Ok(message_id(conn.last_insert_rowid()))
}
