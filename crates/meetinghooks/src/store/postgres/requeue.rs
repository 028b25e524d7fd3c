//! Putting messages back in PostgreSQL: `recover`, the repair of stranded queues, a manual
//! resend, and test messages. Rooms are locked first, as everywhere.

use std::collections::BTreeSet;

use deadpool_postgres::Transaction;

use super::delivery::{
    busy_queues, leased_from_row, promote_next, Holding, LeaseClock, DB_NOW_MS, LEASED_COLUMNS,
};
use super::PgResult;
use crate::domain::timestamp::Timestamp;
use crate::outbox::{self, message_id, message_position, QueueKey, Recoverable};
use crate::store::sql;
use crate::store::{Leased, MessageStatus, StoreError};

/// Locks the rooms of these meetings, in the one order every transaction uses.
pub async fn lock_rooms(tx: &Transaction<'_>, rooms: &BTreeSet<(String, String)>) -> PgResult<()> {
    if rooms.is_empty() {
        return Ok(());
    }
    let (projects, ids): (Vec<&str>, Vec<&str>) =
        rooms.iter().map(|(p, r)| (p.as_str(), r.as_str())).unzip();
    let lock = tx
        .prepare_cached(
            "SELECT 1 FROM rooms WHERE (project_id, room_id) IN
               (SELECT * FROM unnest($1::TEXT[], $2::TEXT[]))
             ORDER BY project_id, room_id FOR UPDATE",
        )
        .await?;
    tx.query(&lock, &[&projects, &ids]).await?;
    Ok(())
}

/// Re-queues an endpoint's failed, exhausted and skipped messages created since `since`. The
/// rooms are locked first, so a concurrent ingest queues behind the recovered messages.
/// Every queue of the endpoint with nothing in line then moves on: that also repairs a queue
/// left waiting by a disable that raced with fan-out.
pub async fn recover(
    tx: &Transaction<'_>,
    endpoint_id: &str,
    since: Timestamp,
    now: Timestamp,
) -> PgResult<usize> {
    let ordered: bool = tx
        .query_one(
            "SELECT ordering != 'none' FROM endpoints WHERE id = $1",
            &[&endpoint_id],
        )
        .await?
        .get(0);
    let rooms = tx
        .query(
            &format!(
                "SELECT DISTINCT project_id, room_id FROM messages
                 WHERE endpoint_id = $1 AND (status = 'waiting'
                   OR (created_at >= $2 AND status IN {}))",
                sql::RECOVERABLE
            ),
            &[&endpoint_id, &since.0],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    lock_rooms(tx, &rooms).await?;
    let found: Vec<(i64, String)> = tx
        .query(
            &format!(
                "SELECT position, room_id FROM messages
                 WHERE endpoint_id = $1 AND created_at >= $2 AND status IN {}
                 ORDER BY position",
                sql::RECOVERABLE
            ),
            &[&endpoint_id, &since.0],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let found: Vec<Recoverable<'_>> = found
        .iter()
        .map(|(position, room_id)| Recoverable {
            position: *position,
            room_id,
        })
        .collect();
    let requeued = outbox::plan_recover(ordered, &found);
    let (mut positions, mut statuses, mut ordereds) = (Vec::new(), Vec::new(), Vec::new());
    for r in &requeued {
        positions.push(r.position);
        statuses.push(r.status.as_str());
        ordereds.push(r.ordered);
    }
    tx.execute(
        "UPDATE messages m SET status = u.status, ordered = u.ordered, due_at = $4
         FROM unnest($1::INT8[], $2::TEXT[], $3::BOOL[]) AS u(position, status, ordered)
         WHERE m.position = u.position",
        &[&positions, &statuses, &ordereds, &now.0],
    )
    .await?;
    promote_stranded(tx, endpoint_id, &rooms).await?;
    Ok(requeued.len())
}

/// The rooms where the endpoint has a message waiting, sorted as they are locked.
pub async fn waiting_rooms(
    tx: &Transaction<'_>,
    endpoint_id: &str,
) -> PgResult<BTreeSet<(String, String)>> {
    Ok(tx
        .query(
            "SELECT DISTINCT project_id, room_id FROM messages
             WHERE endpoint_id = $1 AND status = 'waiting'",
            &[&endpoint_id],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect())
}

/// After an endpoint is enabled again: every queue with nothing in line moves on. The
/// caller has locked `rooms`, the endpoint's `waiting_rooms`.
pub async fn promote_stranded(
    tx: &Transaction<'_>,
    endpoint_id: &str,
    rooms: &BTreeSet<(String, String)>,
) -> PgResult<()> {
    let queues: BTreeSet<QueueKey<'_>> = rooms
        .iter()
        .map(|(_, room_id)| QueueKey {
            endpoint_id,
            room_id,
        })
        .collect();
    promote_next(tx, &queues, outbox::plan_repair, LeaseClock::Database).await?;
    Ok(())
}

pub async fn lease_for_resend(
    tx: &Transaction<'_>,
    project_id: &str,
    message_id: &str,
    lease_until: Timestamp,
    clock: LeaseClock,
) -> PgResult<Leased> {
    let position = message_position(message_id).ok_or(StoreError::NotFound("message"))?;
    // The room first, as everywhere, then the message itself.
    tx.query(
        "SELECT 1 FROM rooms WHERE (project_id, room_id) IN
           (SELECT project_id, room_id FROM messages WHERE project_id = $1 AND position = $2)
         FOR UPDATE",
        &[&project_id, &position],
    )
    .await?;
    let row = tx
        .query_opt(
            &format!(
                "SELECT {LEASED_COLUMNS} FROM messages m JOIN events e ON e.position = m.event_position
                 WHERE m.project_id = $1 AND m.position = $2 FOR UPDATE OF m"
            ),
            &[&project_id, &position],
        )
        .await?
        .ok_or(StoreError::NotFound("message"))?;
    let mut leased = leased_from_row(&row);
    let status = MessageStatus::parse(row.get(8)).unwrap_or(MessageStatus::Pending);
    let queue = QueueKey {
        endpoint_id: &leased.endpoint_id,
        room_id: &leased.room_id,
    };
    let in_line = !busy_queues(tx, &BTreeSet::from([queue]), Holding::InLine)
        .await?
        .is_empty();
    let resend_of = outbox::check_resend(status, leased.ordered, in_line)
        .map_err(|refusal| StoreError::Busy(refusal.to_string()))?;
    // Leased on the database's clock, for the length the node asked for.
    let now = Timestamp::now();
    let lease_ms = (lease_until.0 - now.0).max(0);
    let taken = tx
        .query_one(
            &format!(
                "UPDATE messages SET status = 'delivering',
                 due_at = COALESCE($3::INT8, {DB_NOW_MS}) + $2
                 WHERE position = $1
                 RETURNING due_at, due_at - COALESCE($3::INT8, {DB_NOW_MS})"
            ),
            &[&position, &lease_ms, &clock.param(now)],
        )
        .await?;
    leased.resend_of = Some(resend_of);
    leased.lease_until = Timestamp(taken.get(0));
    leased.lease_left_ms = taken.get(1);
    Ok(leased)
}

pub async fn enqueue_test(
    tx: &Transaction<'_>,
    project_id: &str,
    endpoint_id: &str,
    webhook_type: &str,
    payload: &[u8],
    now: Timestamp,
) -> PgResult<String> {
    // Test events live in the empty meeting id, which no real meeting can have. Its sequence
    // is taken under the project's row lock.
    tx.query(
        "SELECT 1 FROM projects WHERE id = $1 FOR UPDATE",
        &[&project_id],
    )
    .await?;
    let sequence: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(sequence), 0) + 1 FROM events WHERE project_id = $1 AND room_id = ''",
            &[&project_id],
        )
        .await?
        .get(0);
    let event: i64 = tx
        .query_one(
            "INSERT INTO events (project_id, room_id, session_id, sequence, webhook_type, payload, created_at)
             VALUES ($1, '', '', $2, $3, $4, $5) RETURNING position",
            &[&project_id, &sequence, &webhook_type, &payload, &now.0],
        )
        .await?
        .get(0);
    let message: i64 = tx
        .query_one(
            "INSERT INTO messages (project_id, endpoint_id, event_position, room_id, ordered, status, due_at, created_at)
             VALUES ($1, $2, $3, '', FALSE, 'pending', $4, $4) RETURNING position",
            &[&project_id, &endpoint_id, &event, &now.0],
        )
        .await?
        .get(0);
    Ok(message_id(message))
}
