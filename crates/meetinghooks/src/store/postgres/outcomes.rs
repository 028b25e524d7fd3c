//! Settling attempt outcomes in PostgreSQL: reads what `outbox::plan_outcomes` needs under
//! the rooms' and endpoints' locks, then executes its writes as a few `unnest` statements.

use std::collections::{BTreeMap, BTreeSet};

use deadpool_postgres::Transaction;

use super::delivery::{promote_next, LeaseClock};
use super::session::SessionLimits;
use super::{endpoints, PgResult};
use crate::domain::timestamp::Timestamp;
use crate::outbox::{
    self, AttemptRow, EndpointClock, LeaseKey, OutcomeInput, QueueKey, SettledMessage,
};
use crate::store::{AttemptOutcome, Recorded};

/// The `attempts` rows of a batch, as the columns of one `unnest` insert.
#[derive(Default)]
struct AttemptColumns<'a> {
    position: Vec<i64>,
    attempted_at: Vec<i64>,
    duration_ms: Vec<i64>,
    status_code: Vec<Option<i32>>,
    error_kind: Vec<Option<&'static str>>,
    response_body: Vec<&'a str>,
}

impl<'a> AttemptColumns<'a> {
    fn new(rows: &[AttemptRow<'a>]) -> Self {
        let mut c = AttemptColumns::default();
        for row in rows {
            c.position.push(row.position);
            c.attempted_at.push(row.attempted_at.0);
            c.duration_ms.push(row.duration_ms as i64);
            c.status_code.push(row.status_code.map(i32::from));
            c.error_kind.push(row.error_kind);
            c.response_body.push(row.response_body);
        }
        c
    }
}

/// The settled messages of a batch, as the columns of one `unnest` update.
#[derive(Default)]
struct SettledColumns<'a> {
    position: Vec<i64>,
    status: Vec<&'static str>,
    due_at: Vec<i64>,
    attempted_at: Vec<i64>,
    status_code: Vec<Option<i32>>,
    error: Vec<Option<&'a str>>,
    lease_until: Vec<i64>,
    error_kind: Vec<Option<&'static str>>,
}

impl<'a> SettledColumns<'a> {
    fn new(rows: &[SettledMessage<'a>]) -> Self {
        let mut c = SettledColumns::default();
        for row in rows {
            c.position.push(row.position);
            c.status.push(row.status.as_str());
            c.due_at.push(row.due_at.0);
            c.attempted_at.push(row.attempted_at.0);
            c.status_code.push(row.status_code.map(i32::from));
            c.error.push(row.error);
            c.lease_until.push(row.lease_until.0);
            c.error_kind.push(row.error_kind);
        }
        c
    }
}

/// Stores attempts and settles their messages in one transaction, a few statements for the
/// whole batch. Meetings whose queue may move on are locked first, in one order, then their
/// endpoints, so concurrent writers never deadlock. The rules are [`outbox::plan_outcomes`]'s;
/// this reads what it needs and executes its writes.
pub async fn record_outcomes(
    tx: &Transaction<'_>,
    outcomes: &[AttemptOutcome],
    auto_disable_after_ms: i64,
    lease_until: Option<Timestamp>,
    clock: LeaseClock,
    limits: &SessionLimits,
) -> PgResult<Recorded> {
    // A frozen node holding one of these locks fails this batch fast; the dispatcher then
    // writes it again meeting by meeting, so only that meeting's outcomes wait.
    tx.batch_execute(&limits.local_lock_timeout()).await?;
    // Every outcome's room: even a retry can settle as skipped (a disabled endpoint) and let
    // its queue move on.
    let settling: Vec<i64> = outcomes.iter().map(|o| o.position).collect();
    let lock_outcome_rooms = tx
        .prepare_cached(
            "SELECT 1 FROM rooms r WHERE (r.project_id, r.room_id) IN
               (SELECT project_id, room_id FROM messages WHERE position = ANY($1))
             ORDER BY r.project_id, r.room_id FOR UPDATE",
        )
        .await?;
    tx.query(&lock_outcome_rooms, &[&settling]).await?;
    let endpoint_ids: Vec<&str> = outcomes
        .iter()
        .map(|o| o.endpoint_id.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let lock_endpoints = tx
        .prepare_cached(
            "SELECT id, failing_since, disabled FROM endpoints WHERE id = ANY($1)
             ORDER BY id FOR UPDATE",
        )
        .await?;
    let clocks: BTreeMap<String, EndpointClock> = tx
        .query(&lock_endpoints, &[&endpoint_ids])
        .await?
        .iter()
        .map(|row| {
            let clock = EndpointClock {
                failing_since: row.get::<_, Option<i64>>(1).map(Timestamp),
                disabled: row.get(2),
            };
            (row.get(0), clock)
        })
        .collect();
    // Which outcomes still hold their message's lease, by (message, lease): a batch may hold
    // an outcome of the lease in force and a stale one of the same message.
    let (lease_positions, lease_ends): (Vec<i64>, Vec<i64>) = outcomes
        .iter()
        .map(|o| (o.position, o.lease_until.0))
        .unzip();
    let held = tx
        .prepare_cached(
            "SELECT m.position, m.due_at FROM messages m
             JOIN unnest($1::INT8[], $2::INT8[]) AS l(position, lease_until)
               ON m.position = l.position AND m.due_at = l.lease_until
             WHERE m.status = 'delivering' FOR UPDATE OF m",
        )
        .await?;
    let owned: BTreeSet<LeaseKey> = tx
        .query(&held, &[&lease_positions, &lease_ends])
        .await?
        .iter()
        .map(|row| LeaseKey {
            position: row.get(0),
            lease_until: Timestamp(row.get(1)),
        })
        .collect();
    let plan = outbox::plan_outcomes(OutcomeInput {
        outcomes,
        owned: &owned,
        clocks: &clocks,
        auto_disable_after_ms,
    });
    for message_id in &plan.lost {
        tracing::warn!(message_id, "outcome after the lease was lost; ignored");
    }

    let a = AttemptColumns::new(&plan.attempts);
    let insert_attempts = tx
        .prepare_cached(
            // Only for messages that still exist: an attempt that was in flight when its
            // endpoint was deleted would otherwise stay forever, out of retention's reach.
            "INSERT INTO attempts (message_position, attempted_at, duration_ms, status_code,
             error_kind, response_body)
             SELECT * FROM unnest($1::INT8[], $2::INT8[], $3::INT8[], $4::INT4[], $5::TEXT[], $6::TEXT[])
                 AS a(position, attempted_at, duration_ms, status_code, error_kind, response_body)
             WHERE EXISTS (SELECT 1 FROM messages m WHERE m.position = a.position)",
        )
        .await?;
    tx.execute(
        &insert_attempts,
        &[
            &a.position,
            &a.attempted_at,
            &a.duration_ms,
            &a.status_code,
            &a.error_kind,
            &a.response_body,
        ],
    )
    .await?;
    // Only where the lease is still the message's: after a takeover the other holder decides.
    let m = SettledColumns::new(&plan.settled);
    let update = tx
        .prepare_cached(
            "UPDATE messages m SET status = u.status, due_at = u.due_at, attempts = m.attempts + 1,
             last_attempt_at = u.attempted_at, last_status_code = u.status_code,
             last_error = u.error, last_error_kind = u.error_kind
             FROM unnest($1::INT8[], $2::TEXT[], $3::INT8[], $4::INT8[], $5::INT4[], $6::TEXT[],
                         $7::INT8[], $8::TEXT[])
               AS u(position, status, due_at, attempted_at, status_code, error, lease_until,
                    error_kind)
             WHERE m.position = u.position AND m.status = 'delivering' AND m.due_at = u.lease_until",
        )
        .await?;
    tx.execute(
        &update,
        &[
            &m.position,
            &m.status,
            &m.due_at,
            &m.attempted_at,
            &m.status_code,
            &m.error,
            &m.lease_until,
            &m.error_kind,
        ],
    )
    .await?;
    if !plan.failing_started.is_empty() {
        let (ids, since): (Vec<&str>, Vec<i64>) = plan
            .failing_started
            .iter()
            .map(|f| (f.endpoint_id, f.since.0))
            .unzip();
        tx.execute(
            "UPDATE endpoints e SET failing_since = COALESCE(e.failing_since, u.since)
             FROM unnest($1::TEXT[], $2::INT8[]) AS u(id, since) WHERE e.id = u.id",
            &[&ids, &since],
        )
        .await?;
    }
    let freed: BTreeSet<QueueKey<'_>> = plan.freed.keys().copied().collect();
    let how = |endpoint: &str| plan.promotion(lease_until, endpoint);
    let promoted = promote_next(
        tx,
        &freed,
        |heads| outbox::plan_promotion(heads, how),
        clock,
    )
    .await?;
    let mut disabled = Vec::new();
    // After the promotion, so a newly promoted message is skipped too.
    for d in &plan.disable {
        if disable(tx, d.endpoint_id, &d.reason, d.at).await? {
            disabled.push((d.endpoint_id.to_owned(), d.reason.clone()));
        }
    }
    if !plan.succeeded.is_empty() {
        let (ids, at): (Vec<&str>, Vec<i64>) = plan
            .succeeded
            .iter()
            .map(|s| (s.endpoint_id, s.at.0))
            .unzip();
        tx.execute(
            "UPDATE endpoints e SET last_success_at = u.at, failing_since = NULL
             FROM unnest($1::TEXT[], $2::INT8[]) AS u(id, at) WHERE e.id = u.id",
            &[&ids, &at],
        )
        .await?;
    }
    Ok(Recorded { promoted, disabled })
}

/// Disables an endpoint that is not yet; `true` when it was enabled until now.
async fn disable(
    tx: &Transaction<'_>,
    endpoint_id: &str,
    reason: &str,
    now: Timestamp,
) -> PgResult<bool> {
    let changed = tx
        .execute(
            "UPDATE endpoints SET disabled = TRUE, disabled_reason = $2, updated_at = $3
             WHERE id = $1 AND NOT disabled",
            &[&endpoint_id, &reason, &now.0],
        )
        .await?;
    if changed > 0 {
        endpoints::skip_queued(tx, endpoint_id).await?;
    }
    Ok(changed > 0)
}
