//! The outbox in SQLite: fan-out of events into messages, leases, outcomes, promotion,
//! retention. The rules are `crate::outbox`'s; this reads their inputs and writes their plans.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::domain::timestamp::Timestamp;
use crate::outbox::{self, fence, FannedOut, Target};
use crate::outbox::{
    EndpointClock, LeaseKey, NewEvent, OutcomeInput, Promote, Promotion, QueueHead, QueueKey,
};
use crate::store::sql;
use crate::store::{AttemptOutcome, LeaseBatch, LeaseRequest, Leased, Recorded, StoreResult};

/// The endpoints events of `rooms` may go to: the project's account endpoints and those
/// rooms' own webhooks, each a seek on the `(project_id, room_id)` key; never every room's
/// webhook.
pub fn targets<'r>(
    conn: &Connection,
    project_id: &str,
    rooms: impl IntoIterator<Item = &'r str>,
) -> StoreResult<Vec<Target>> {
    let mut account = conn.prepare_cached(
        "SELECT id, room_id, events, ordering, disabled FROM endpoints
         WHERE project_id = ?1 AND room_id IS NULL",
    )?;
    let mut targets = account
        .query_map([project_id], target_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut own = conn.prepare_cached(
        "SELECT id, room_id, events, ordering, disabled FROM endpoints
         WHERE project_id = ?1 AND room_id = ?2",
    )?;
    for room in rooms {
        for target in own.query_map(params![project_id, room], target_from_row)? {
            targets.push(target?);
        }
    }
    Ok(targets)
}

fn target_from_row(row: &Row<'_>) -> rusqlite::Result<Target> {
    let (events, ordering): (String, String) = (row.get(2)?, row.get(3)?);
    Ok(Target::from_columns(
        row.get(0)?,
        row.get(1)?,
        &events,
        &ordering,
        row.get(4)?,
    ))
}

/// Creates one message per subscribed endpoint for a just-inserted event, as
/// [`outbox::plan_fan_out`] says; the queue checks are one seek each.
pub fn fan_out(
    conn: &Connection,
    targets: &[Target],
    project_id: &str,
    event: NewEvent<'_>,
    now: Timestamp,
) -> StoreResult<FannedOut> {
    let mut holds = conn.prepare_cached(
        "SELECT 1 FROM messages WHERE endpoint_id = ?1 AND room_id = ?2
         AND status IN ('waiting', 'pending', 'delivering') LIMIT 1",
    )?;
    let events = [event];
    let mut busy = BTreeSet::new();
    for queue in outbox::queues_to_check(targets, &events) {
        if holds.exists(params![queue.endpoint_id, queue.room_id])? {
            busy.insert(queue);
        }
    }
    let messages = outbox::plan_fan_out(targets, &events, &busy);
    let mut insert = conn.prepare_cached(
        "INSERT INTO messages (project_id, endpoint_id, event_position, room_id, ordered, status, due_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?;
    for m in &messages {
        insert.execute(params![
            project_id,
            m.endpoint_id,
            m.event_position,
            m.room_id,
            m.ordered,
            m.status.as_str(),
            now.0
        ])?;
    }
    Ok(FannedOut::of(&messages))
}

pub(super) const LEASED_COLUMNS: &str =
    "m.position, m.endpoint_id, m.room_id, m.ordered, e.sequence, e.payload,
    m.attempts, e.created_at, m.status, m.due_at";

pub(super) fn leased_from_row(row: &Row<'_>) -> rusqlite::Result<Leased> {
    Ok(Leased {
        // Named by the store on its way out (`store::named`).
        message_id: String::new(),
        position: row.get(0)?,
        endpoint_id: row.get(1)?,
        room_id: row.get(2)?,
        ordered: row.get(3)?,
        sequence: row.get::<_, i64>(4)? as u64,
        payload: row.get(5)?,
        attempts: row.get(6)?,
        event_created_at: Timestamp(row.get(7)?),
        resend_of: None,
        lease_until: Timestamp(row.get(9)?),
        lease_left_ms: row.get::<_, i64>(9)? - Timestamp::now().0,
    })
}

pub fn lease(
    conn: &Connection,
    requests: &[LeaseRequest],
    now: Timestamp,
    lease_until: Timestamp,
) -> StoreResult<LeaseBatch> {
    let mut due = conn.prepare_cached(&format!(
        "SELECT {LEASED_COLUMNS} FROM messages m JOIN events e ON e.position = m.event_position
         WHERE m.endpoint_id = ?1 AND m.status IN ('pending', 'delivering') AND m.due_at <= ?2
         ORDER BY m.due_at LIMIT ?3"
    ))?;
    let mut next = conn.prepare_cached(
        "SELECT MIN(due_at) FROM messages WHERE endpoint_id = ?1 AND status IN ('pending', 'delivering')",
    )?;
    let mut take = conn.prepare_cached(
        "UPDATE messages SET status = 'delivering', due_at = ?2 WHERE position = ?1",
    )?;
    let mut batch = LeaseBatch::default();
    for request in requests {
        let mut rows = due
            .query_map(
                params![request.endpoint_id, now.0, request.max as i64],
                leased_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for leased in &mut rows {
            take.execute(params![leased.position, lease_until.0])?;
            leased.lease_until = lease_until;
            leased.lease_left_ms = lease_until.0 - Timestamp::now().0;
        }
        if rows.len() < request.max {
            let next_due: Option<i64> = next.query_row([&request.endpoint_id], |row| row.get(0))?;
            batch
                .next_due
                .push((request.endpoint_id.clone(), next_due.map(Timestamp)));
        }
        batch.leased.extend(rows);
    }
    Ok(batch)
}

/// Reads what settling the batch needs (which leases are still held, the endpoints'
/// clocks), plans it with [`outbox::plan_outcomes`] and executes the plan row by row.
pub fn record_outcomes(
    conn: &Connection,
    outcomes: &[AttemptOutcome],
    auto_disable_after_ms: i64,
    lease_until: Option<Timestamp>,
) -> StoreResult<Recorded> {
    let mut held = conn.prepare_cached(
        "SELECT 1 FROM messages WHERE position = ?1 AND status = 'delivering' AND due_at = ?2",
    )?;
    let mut owned = BTreeSet::new();
    for o in outcomes {
        let position = o.position;
        if held.exists(params![position, o.lease_until.0])? {
            owned.insert(LeaseKey {
                position,
                lease_until: o.lease_until,
            });
        }
    }
    let mut clock =
        conn.prepare_cached("SELECT failing_since, disabled FROM endpoints WHERE id = ?1")?;
    let mut clocks = BTreeMap::new();
    for o in outcomes {
        if clocks.contains_key(&o.endpoint_id) {
            continue;
        }
        let read = clock
            .query_row([&o.endpoint_id], |row| {
                Ok(EndpointClock {
                    failing_since: row.get::<_, Option<i64>>(0)?.map(Timestamp),
                    disabled: row.get(1)?,
                })
            })
            .optional()?;
        if let Some(read) = read {
            clocks.insert(o.endpoint_id.clone(), read);
        }
    }
    let plan = outbox::plan_outcomes(OutcomeInput {
        outcomes,
        owned: &owned,
        clocks: &clocks,
        auto_disable_after_ms,
    });
    for message_id in &plan.lost {
        tracing::warn!(message_id, "outcome after the lease was lost; ignored");
    }
    // Only for messages that still exist: an attempt that was in flight when its endpoint
    // was deleted would otherwise stay forever, out of retention's reach.
    let mut attempt = conn.prepare_cached(
        "INSERT INTO attempts (message_position, attempted_at, duration_ms, status_code, error_kind, response_body)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM messages WHERE position = ?1)",
    )?;
    for a in &plan.attempts {
        attempt.execute(params![
            a.position,
            a.attempted_at.0,
            a.duration_ms as i64,
            a.status_code,
            a.error_kind,
            a.response_body
        ])?;
    }
    let mut update = conn.prepare_cached(
        "UPDATE messages SET status = ?2, due_at = ?3, attempts = attempts + 1,
         last_attempt_at = ?4, last_status_code = ?5, last_error = ?6, last_error_kind = ?8
         WHERE position = ?1 AND status = 'delivering' AND due_at = ?7",
    )?;
    for m in &plan.settled {
        update.execute(params![
            m.position,
            m.status.as_str(),
            m.due_at.0,
            m.attempted_at.0,
            m.status_code,
            m.error,
            m.lease_until.0,
            m.error_kind,
        ])?;
    }
    let mut failing = conn.prepare_cached(
        "UPDATE endpoints SET failing_since = COALESCE(failing_since, ?2) WHERE id = ?1",
    )?;
    for f in &plan.failing_started {
        failing.execute(params![f.endpoint_id, f.since.0])?;
    }
    let mut recorded = Recorded::default();
    for (queue, at) in &plan.freed {
        let how = plan.promotion(lease_until, queue.endpoint_id);
        recorded
            .promoted
            .extend(promote_next(conn, *queue, *at, how)?);
    }
    for d in &plan.disable {
        if disable(conn, d.endpoint_id, &d.reason, d.at)? {
            recorded
                .disabled
                .push((d.endpoint_id.to_owned(), d.reason.clone()));
        }
    }
    let mut succeeded = conn.prepare_cached(
        "UPDATE endpoints SET last_success_at = ?2, failing_since = NULL WHERE id = ?1",
    )?;
    for s in &plan.succeeded {
        succeeded.execute(params![s.endpoint_id, s.at.0])?;
    }
    Ok(recorded)
}

/// Disables an endpoint that is not yet; `true` when it was enabled until now.
fn disable(
    conn: &Connection,
    endpoint_id: &str,
    reason: &str,
    now: Timestamp,
) -> StoreResult<bool> {
    let changed = conn.execute(
        "UPDATE endpoints SET disabled = 1, disabled_reason = ?2, updated_at = ?3
         WHERE id = ?1 AND disabled = 0",
        params![endpoint_id, reason, now.0],
    )?;
    if changed > 0 {
        super::endpoints::skip_queued(conn, endpoint_id)?;
    }
    Ok(changed > 0)
}

/// Reads a queue's head: its first waiting message, and whether one is pending or in flight.
pub(super) fn queue_head<'a>(
    conn: &Connection,
    queue: QueueKey<'a>,
) -> StoreResult<Option<QueueHead<'a>>> {
    let first_waiting: Option<i64> = conn
        .prepare_cached(
            "SELECT position FROM messages WHERE endpoint_id = ?1 AND room_id = ?2 AND status = 'waiting'
             ORDER BY event_position LIMIT 1",
        )?
        .query_row(params![queue.endpoint_id, queue.room_id], |row| row.get(0))
        .optional()?;
    // Usually nothing waits (always so with `ordering: none`): one seek, then done.
    let Some(first_waiting) = first_waiting else {
        return Ok(None);
    };
    Ok(Some(QueueHead {
        queue,
        first_waiting,
        in_line: queue_busy(conn, queue.endpoint_id, queue.room_id)?,
    }))
}

/// Writes a planned promotion: leased and returned, or pending due at `now`.
pub(super) fn promote(
    conn: &Connection,
    p: &Promote<'_>,
    now: Timestamp,
) -> StoreResult<Option<Leased>> {
    // A lease already over is not handed out: the message goes pending, for a round.
    let lease = match p.how {
        Promotion::Lease(until) => {
            fence::promotion_lease_ms(until, Timestamp::now()).map(|_| until)
        }
        Promotion::DueNow => None,
    };
    let (status, due_at) = match lease {
        Some(until) => ("delivering", until),
        None => ("pending", now),
    };
    conn.prepare_cached("UPDATE messages SET status = ?2, due_at = ?3 WHERE position = ?1")?
        .execute(params![p.position, status, due_at.0])?;
    if lease.is_none() {
        return Ok(None);
    }
    let leased = conn
        .prepare_cached(&format!(
            "SELECT {LEASED_COLUMNS} FROM messages m JOIN events e ON e.position = m.event_position
             WHERE m.position = ?1"
        ))?
        .query_row([p.position], leased_from_row)?;
    Ok(Some(leased))
}

/// Moves a queue on ([`outbox::plan_promotion`]): its head goes if nothing is in line.
pub fn promote_next(
    conn: &Connection,
    queue: QueueKey<'_>,
    now: Timestamp,
    how: Promotion,
) -> StoreResult<Option<Leased>> {
    let heads: Vec<QueueHead<'_>> = queue_head(conn, queue)?.into_iter().collect();
    match outbox::plan_promotion(&heads, |_| how).first() {
        Some(p) => promote(conn, p, now),
        None => Ok(None),
    }
}

pub fn release_leases(conn: &Connection, now: Timestamp) -> StoreResult<usize> {
    Ok(conn.execute(
        "UPDATE messages SET status = 'pending', due_at = ?1 WHERE status = 'delivering'",
        [now.0],
    )?)
}

pub fn delete_finished(conn: &Connection, cutoff: Timestamp, limit: usize) -> StoreResult<usize> {
    let positions: Vec<i64> = conn
        .prepare_cached(&sql::finished_before_sql(|n| format!("?{n}")))?
        .query_map(params![cutoff.0, limit as i64], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut attempts = conn.prepare_cached("DELETE FROM attempts WHERE message_position = ?1")?;
    let mut message = conn.prepare_cached("DELETE FROM messages WHERE position = ?1")?;
    for position in &positions {
        attempts.execute([position])?;
        message.execute([position])?;
    }
    Ok(positions.len())
}

/// Whether an (endpoint, meeting) queue has a message pending or in flight.
pub(super) fn queue_busy(conn: &Connection, endpoint_id: &str, room_id: &str) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM messages WHERE endpoint_id = ?1 AND room_id = ?2
             AND status IN ('pending', 'delivering') LIMIT 1",
        )?
        .exists(params![endpoint_id, room_id])?)
}
