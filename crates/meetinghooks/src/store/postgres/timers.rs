//! Reconnect graces on PostgreSQL: the most overdue meeting, taken with `SKIP LOCKED`, so each
//! deadline fires once across the cluster.

use deadpool_postgres::Transaction;

use super::error::PgResult;
use super::meeting::{load_participants, parse_state, persist, Step};
use crate::domain::timestamp::Timestamp;
use crate::engine::{self, Meeting};
use crate::outbox::ParticipantKey;
use crate::store::panic::contain_async;

/// Fires the most overdue meeting's reconnect graces. Rooms another node is working on are
/// skipped, and the lock makes each deadline fire exactly once across the cluster.
/// Returns the events emitted, or `None` when nothing is due.
pub async fn fire_one_timer(tx: &Transaction<'_>, now: Timestamp) -> PgResult<Option<usize>> {
    let due = tx
        .prepare_cached(
            "SELECT project_id, room_id, state FROM rooms WHERE next_timer_at <= $1
             ORDER BY next_timer_at LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .await?;
    let Some(row) = tx.query_opt(&due, &[&now.0]).await? else {
        return Ok(None);
    };
    let (project_id, room_id): (String, String) = (row.get(0), row.get(1));
    tx.batch_execute("SAVEPOINT tick").await?;
    match contain_async(tick(tx, &project_id, &room_id, row.get(2), now)).await {
        Ok(emitted) => {
            tx.batch_execute("RELEASE SAVEPOINT tick").await?;
            Ok(Some(emitted))
        }
        Err(e) if e.retryable() || e.is_connection() => Err(e),
        Err(e) => {
            // One broken room must not hold back every timer in the cluster: disarm it.
            tracing::error!(project_id, room_id, error = %e, "reconnect timer failed; disarmed");
            tx.batch_execute("ROLLBACK TO SAVEPOINT tick").await?;
            tx.execute(
                "UPDATE rooms SET next_timer_at = NULL WHERE project_id = $1 AND room_id = $2",
                &[&project_id, &room_id],
            )
            .await?;
            Ok(Some(0))
        }
    }
}

/// Expires the reconnect graces of one locked meeting; returns the events emitted.
async fn tick(
    tx: &Transaction<'_>,
    project_id: &str,
    room_id: &str,
    state: &str,
    now: Timestamp,
) -> PgResult<usize> {
    let mut meeting = Meeting::new(parse_state(state)?);
    let wanted: Vec<ParticipantKey> = meeting
        .needs(None)
        .map(|id| ParticipantKey {
            room_id: room_id.to_owned(),
            participant_id: id.to_owned(),
        })
        .collect();
    for (_, record) in load_participants(tx, project_id, &wanted).await? {
        meeting.participants.insert(record.id.clone(), record);
    }
    let outcome = engine::tick(&mut meeting, room_id, now);
    let emitted = outcome.events.len();
    let step = Step {
        room_id,
        meeting: &meeting,
        outcomes: &[outcome],
    };
    persist(tx, project_id, &[step], now).await?;
    Ok(emitted)
}
