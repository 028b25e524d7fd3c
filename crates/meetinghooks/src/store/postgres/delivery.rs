//! The outbox in PostgreSQL: fan-out, leases that expire (`FOR UPDATE SKIP LOCKED`), outcomes
//! and promotion under the meeting's room lock, recovery.
//!
//! Ordering across nodes: whether a new message waits (fan-out) and which message goes next
//! (promotion) are both decided while holding the meeting's room row, so they never race.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use deadpool_postgres::Transaction;
use tokio_postgres::{GenericClient, Row};

use super::{endpoints, PgResult};
use crate::domain::timestamp::Timestamp;
use crate::outbox::{self, event_id, message_id, message_position, Target};
use crate::outbox::{
    AttemptRow, EndpointClock, LeaseKey, NewEvent, NewMessage, OutcomeInput, Promotion, QueueHead,
    QueueKey, Recoverable, SettledMessage,
};
use crate::store::sql;
use crate::store::{
    AttemptOutcome, AttemptRecord, LeaseBatch, LeaseRequest, Leased, MessageQuery, MessageRecord,
    MessageStatus, Page, Recorded, StoreError,
};

/// The database's clock in milliseconds since the epoch. Leases are taken and judged on it,
/// so nodes whose clocks disagree still agree on whether a lease is live. Read once per
/// statement (`WITH clock AS MATERIALIZED (SELECT … AS now)`).
pub(super) const DB_NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::int8";

/// Which clock leases are taken and judged on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LeaseClock {
    /// The database's: nodes whose clocks disagree still agree on whether a lease is live.
    #[default]
    Database,
    /// The `now` each caller passes: for tests that simulate time through it.
    Caller,
}

impl LeaseClock {
    /// The statement's `now` parameter: `NULL` makes it read the database's clock.
    fn param(self, now: Timestamp) -> Option<i64> {
        match self {
            LeaseClock::Database => None,
            LeaseClock::Caller => Some(now.0),
        }
    }
}

pub async fn targets(tx: &Transaction<'_>, project_id: &str) -> PgResult<Vec<Target>> {
    let statement = tx
        .prepare_cached(
            "SELECT id, room_id, events, ordering, disabled FROM endpoints WHERE project_id = $1",
        )
        .await?;
    let rows = tx.query(&statement, &[&project_id]).await?;
    Ok(rows
        .iter()
        .map(|row| Target::from_columns(row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)))
        .collect())
}

/// The new messages of a batch, as the columns of one `unnest` insert.
#[derive(Default)]
struct MessageColumns<'a> {
    endpoint_id: Vec<&'a str>,
    event_position: Vec<i64>,
    room_id: Vec<&'a str>,
    ordered: Vec<bool>,
    status: Vec<&'static str>,
}

impl<'a> MessageColumns<'a> {
    fn new(rows: &[NewMessage<'a>]) -> Self {
        let mut c = MessageColumns::default();
        for row in rows {
            c.endpoint_id.push(row.endpoint_id);
            c.event_position.push(row.event_position);
            c.room_id.push(row.room_id);
            c.ordered.push(row.ordered);
            c.status.push(row.status.as_str());
        }
        c
    }
}

/// Creates one message per subscribed endpoint for each just-inserted event (given in
/// position order), as [`outbox::plan_fan_out`] says, in one statement. The caller holds the
/// meetings' room locks, so which queues are busy cannot change underneath.
pub async fn fan_out(
    tx: &Transaction<'_>,
    targets: &[Target],
    project_id: &str,
    events: &[NewEvent<'_>],
    now: Timestamp,
) -> PgResult<usize> {
    let asked = outbox::queues_to_check(targets, events);
    let busy = busy_queues(tx, &asked, Holding::AnyToGo).await?;
    let messages = outbox::plan_fan_out(targets, events, &busy);
    if messages.is_empty() {
        return Ok(0);
    }
    let c = MessageColumns::new(&messages);
    let insert = tx
        .prepare_cached(
            "INSERT INTO messages (project_id, endpoint_id, event_position, room_id, ordered,
             status, due_at, created_at)
             SELECT $1, endpoint_id, event_position, room_id, ordered, status, $7, $7
             FROM unnest($2::TEXT[], $3::INT8[], $4::TEXT[], $5::BOOL[], $6::TEXT[])
               AS m(endpoint_id, event_position, room_id, ordered, status)",
        )
        .await?;
    let created = tx
        .execute(
            &insert,
            &[
                &project_id,
                &c.endpoint_id,
                &c.event_position,
                &c.room_id,
                &c.ordered,
                &c.status,
                &now.0,
            ],
        )
        .await?;
    Ok(created as usize)
}

/// Which messages make a queue busy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Holding {
    /// A waiting, pending or delivering message: a new ordered message waits behind it.
    AnyToGo,
    /// A pending or delivering message: the queue's head may not go, nor a resend overtake.
    InLine,
}

/// Which of these queues hold such a message: one statement for them all.
async fn busy_queues<'a>(
    tx: &Transaction<'_>,
    queues: &BTreeSet<QueueKey<'a>>,
    holding: Holding,
) -> PgResult<BTreeSet<QueueKey<'a>>> {
    if queues.is_empty() {
        return Ok(BTreeSet::new());
    }
    let (endpoints, rooms): (Vec<&str>, Vec<&str>) =
        queues.iter().map(|q| (q.endpoint_id, q.room_id)).unzip();
    let statement = tx
        .prepare_cached(
            "SELECT q.endpoint_id, q.room_id FROM unnest($1::TEXT[], $2::TEXT[]) AS q(endpoint_id, room_id)
             WHERE EXISTS (SELECT 1 FROM messages m
                           WHERE m.endpoint_id = q.endpoint_id AND m.room_id = q.room_id
                             AND (m.status IN ('pending', 'delivering')
                                  OR ($3 AND m.status = 'waiting')))",
        )
        .await?;
    let or_waiting = holding == Holding::AnyToGo;
    let rows = tx
        .query(&statement, &[&endpoints, &rooms, &or_waiting])
        .await?;
    let found: BTreeSet<(String, String)> =
        rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    Ok(queues
        .iter()
        .copied()
        .filter(|q| found.contains(&(q.endpoint_id.to_owned(), q.room_id.to_owned())))
        .collect())
}

const LEASED_COLUMNS: &str = "m.position, m.endpoint_id, m.room_id, m.ordered, e.sequence,
    e.payload, m.attempts, e.created_at, m.status, m.due_at";

fn leased_from_row(row: &Row) -> Leased {
    Leased {
        message_id: message_id(row.get(0)),
        endpoint_id: row.get(1),
        room_id: row.get(2),
        ordered: row.get(3),
        sequence: row.get::<_, i64>(4) as u64,
        payload: row.get(5),
        attempts: row.get::<_, i32>(6) as u32,
        event_created_at: Timestamp(row.get(7)),
        resend_of: None,
        lease_until: Timestamp(row.get(9)),
    }
}

/// Leases due messages: pending ones whose time has come, and deliveries whose lease expired
/// (their node died). `SKIP LOCKED` lets nodes lease side by side without waiting. Two
/// statements per round, however many endpoints ask.
pub async fn lease(
    client: &deadpool_postgres::Client,
    requests: &[LeaseRequest],
    now: Timestamp,
    lease_until: Timestamp,
    clock: LeaseClock,
) -> PgResult<LeaseBatch> {
    let (endpoints, maxes): (Vec<&str>, Vec<i64>) = requests
        .iter()
        .map(|r| (r.endpoint_id.as_str(), r.max as i64))
        .unzip();
    // The lease's length on this node's clock; its start and expiry on the database's.
    let lease_ms = lease_until.0 - now.0;
    let take = client
        .prepare_cached(&format!(
            "WITH clock AS MATERIALIZED (SELECT COALESCE($4::INT8, {DB_NOW_MS}) AS now),
             due AS (
                SELECT d.position
                FROM unnest($1::TEXT[], $2::INT8[]) AS r(endpoint_id, max)
                CROSS JOIN LATERAL (
                    SELECT position FROM messages
                    WHERE endpoint_id = r.endpoint_id AND status IN ('pending', 'delivering')
                      AND due_at <= (SELECT now FROM clock)
                    ORDER BY due_at LIMIT r.max FOR UPDATE SKIP LOCKED) d),
             taken AS (
                UPDATE messages m SET status = 'delivering', due_at = (SELECT now FROM clock) + $3
                FROM due WHERE m.position = due.position
                RETURNING m.*)
             SELECT {LEASED_COLUMNS} FROM taken m JOIN events e ON e.position = m.event_position
             ORDER BY m.position"
        ))
        .await?;
    let rows = client
        .query(&take, &[&endpoints, &maxes, &lease_ms, &clock.param(now)])
        .await?;
    let mut batch = LeaseBatch {
        leased: rows.iter().map(leased_from_row).collect(),
        next_due: Vec::new(),
    };
    let mut taken: HashMap<&str, usize> = HashMap::new();
    for leased in &batch.leased {
        *taken.entry(leased.endpoint_id.as_str()).or_default() += 1;
    }
    let short: Vec<&str> = requests
        .iter()
        .filter(|r| taken.get(r.endpoint_id.as_str()).copied().unwrap_or(0) < r.max)
        .map(|r| r.endpoint_id.as_str())
        .collect();
    if short.is_empty() {
        return Ok(batch);
    }
    let next = client
        .prepare_cached(&format!(
            "SELECT r.endpoint_id,
                    (SELECT MIN(due_at) FROM messages
                     WHERE endpoint_id = r.endpoint_id AND status IN ('pending', 'delivering'))
                    - COALESCE($2::INT8, {DB_NOW_MS})
             FROM unnest($1::TEXT[]) AS r(endpoint_id)"
        ))
        .await?;
    for row in client.query(&next, &[&short, &clock.param(now)]).await? {
        // How long until it is due on the database's clock, as a time on this node's.
        // Rows another node holds right now look due but were skipped: look again soon.
        let next_due = row
            .get::<_, Option<i64>>(1)
            .map(|wait| Timestamp(now.0 + wait.max(1)));
        batch.next_due.push((row.get(0), next_due));
    }
    Ok(batch)
}

/// The `attempts` rows of a batch, as the columns of one `unnest` insert.
#[derive(Default)]
struct AttemptColumns<'a> {
    position: Vec<Option<i64>>,
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
) -> PgResult<Recorded> {
    // Every outcome's room: even a retry can settle as skipped (a disabled endpoint) and let
    // its queue move on.
    let settling: Vec<i64> = outcomes
        .iter()
        .filter_map(|o| message_position(&o.message_id))
        .collect();
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
        .filter_map(|o| message_position(&o.message_id).map(|p| (p, o.lease_until.0)))
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
            "INSERT INTO attempts (message_position, attempted_at, duration_ms, status_code,
             error_kind, response_body)
             SELECT * FROM unnest($1::INT8[], $2::INT8[], $3::INT8[], $4::INT4[], $5::TEXT[], $6::TEXT[])",
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
    let promoted = promote_next(
        tx,
        &freed,
        |endpoint| plan.promotion(lease_until, endpoint),
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

/// Promoted messages as the columns of one `unnest` update; no lease means pending.
#[derive(Default)]
struct PromoteColumns {
    position: Vec<i64>,
    lease_ms: Vec<Option<i64>>,
}

/// Makes the oldest waiting message of each (endpoint, meeting) pair due, where none is in
/// line. The caller holds the meetings' room locks. Where `lease_for(endpoint)` gives a lease,
/// the message is leased at once and returned, so it is sent without another round trip.
async fn promote_next(
    tx: &Transaction<'_>,
    queues: &BTreeSet<QueueKey<'_>>,
    how: impl Fn(&str) -> Promotion,
    clock: LeaseClock,
) -> PgResult<Vec<Leased>> {
    if queues.is_empty() {
        return Ok(Vec::new());
    }
    let (endpoints, rooms): (Vec<&str>, Vec<&str>) =
        queues.iter().map(|q| (q.endpoint_id, q.room_id)).unzip();
    // Usually nothing waits (always so with `ordering: none`): one statement, then done.
    let first_waiting = tx
        .prepare_cached(
            "SELECT DISTINCT ON (m.endpoint_id, m.room_id) m.endpoint_id, m.room_id, m.position
             FROM messages m JOIN unnest($1::TEXT[], $2::TEXT[]) AS q(endpoint_id, room_id)
               ON m.endpoint_id = q.endpoint_id AND m.room_id = q.room_id
             WHERE m.status = 'waiting'
             ORDER BY m.endpoint_id, m.room_id, m.event_position",
        )
        .await?;
    let waiting: Vec<(String, String, i64)> = tx
        .query(&first_waiting, &[&endpoints, &rooms])
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    let candidates: BTreeSet<QueueKey<'_>> = waiting
        .iter()
        .map(|(endpoint_id, room_id, _)| QueueKey {
            endpoint_id,
            room_id,
        })
        .collect();
    let busy = busy_queues(tx, &candidates, Holding::InLine).await?;
    let heads: Vec<QueueHead<'_>> = waiting
        .iter()
        .map(|(endpoint_id, room_id, position)| {
            let queue = QueueKey {
                endpoint_id,
                room_id,
            };
            QueueHead {
                queue,
                first_waiting: *position,
                in_line: busy.contains(&queue),
            }
        })
        .collect();
    let now = Timestamp::now();
    let mut columns = PromoteColumns::default();
    for p in outbox::plan_promotion(&heads, how) {
        // The lease's length on this node's clock; one already over is not handed out
        // (the message is promoted as pending and leased by a round instead).
        let lease_ms = match p.how {
            Promotion::Lease(until) => Some(until.0 - now.0).filter(|ms| *ms > 0),
            Promotion::DueNow => None,
        };
        columns.position.push(p.position);
        columns.lease_ms.push(lease_ms);
    }
    if columns.position.is_empty() {
        return Ok(Vec::new());
    }
    let promote = tx
        .prepare_cached(&format!(
            "WITH clock AS MATERIALIZED (SELECT COALESCE($3::INT8, {DB_NOW_MS}) AS now),
             promoted AS (
                UPDATE messages m
                SET status = CASE WHEN u.lease_ms IS NULL THEN 'pending' ELSE 'delivering' END,
                    due_at = (SELECT now FROM clock) + COALESCE(u.lease_ms, 0)
                FROM unnest($1::INT8[], $2::INT8[]) AS u(position, lease_ms)
                WHERE m.position = u.position RETURNING m.*)
             SELECT {LEASED_COLUMNS} FROM promoted m JOIN events e ON e.position = m.event_position
             WHERE m.status = 'delivering'"
        ))
        .await?;
    let rows = tx
        .query(
            &promote,
            &[&columns.position, &columns.lease_ms, &clock.param(now)],
        )
        .await?;
    Ok(rows.iter().map(leased_from_row).collect())
}

/// One statement, so it needs no transaction; `SKIP LOCKED` lets several nodes run
/// retention at once without waiting on each other.
pub async fn delete_finished(
    client: &deadpool_postgres::Client,
    cutoff: Timestamp,
    limit: usize,
) -> PgResult<usize> {
    let statement = client
        .prepare_cached(&format!(
            "WITH gone AS (
                DELETE FROM messages WHERE position IN ({} FOR UPDATE SKIP LOCKED)
                RETURNING position),
             attempts_gone AS (
                DELETE FROM attempts WHERE message_position IN (SELECT position FROM gone))
             SELECT COUNT(*) FROM gone",
            sql::finished_before_sql(|n| format!("${n}"))
        ))
        .await?;
    let deleted: i64 = client
        .query_one(&statement, &[&cutoff.0, &(limit as i64)])
        .await?
        .get(0);
    Ok(deleted as usize)
}

pub async fn queue_depth(client: &impl GenericClient) -> PgResult<Vec<(MessageStatus, u64)>> {
    let rows = client
        .query("SELECT status, COUNT(*) FROM messages GROUP BY status", &[])
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let status = MessageStatus::parse(row.get(0))?;
            Some((status, row.get::<_, i64>(1) as u64))
        })
        .collect())
}

const MESSAGE_COLUMNS: &str = "m.position, m.endpoint_id, e.position, m.room_id, e.sequence,
    e.webhook_type, m.status, m.attempts, m.due_at, m.created_at, m.last_attempt_at,
    m.last_status_code, m.last_error, m.last_error_kind";

fn message_from_row(row: &Row) -> MessageRecord {
    let position: i64 = row.get(0);
    MessageRecord {
        id: message_id(position),
        position,
        endpoint_id: row.get(1),
        event_id: event_id(row.get(2)),
        meeting_id: row.get(3),
        sequence: row.get::<_, i64>(4) as u64,
        webhook_type: row.get(5),
        status: MessageStatus::parse(row.get(6)).unwrap_or(MessageStatus::Pending),
        attempts: row.get::<_, i32>(7) as u32,
        due_at: Timestamp(row.get(8)),
        created_at: Timestamp(row.get(9)),
        last_attempt_at: row.get::<_, Option<i64>>(10).map(Timestamp),
        last_status_code: row.get::<_, Option<i32>>(11).map(|c| c as u16),
        last_error: row.get(12),
        last_error_kind: row.get(13),
    }
}

pub async fn messages(
    client: &impl GenericClient,
    project_id: &str,
    query: &MessageQuery,
) -> PgResult<Page<MessageRecord>> {
    let settled = super::settled_position(client, "messages").await?;
    let rows = client
        .query(
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN events e ON e.position = m.event_position
                 WHERE m.project_id = $1 AND m.position > $2 AND m.position <= $7
                   AND ($3::TEXT IS NULL OR m.endpoint_id = $3)
                   AND ($4::TEXT IS NULL OR m.room_id = $4)
                   AND ($5::TEXT IS NULL OR m.status = $5)
                 ORDER BY m.position LIMIT $6"
            ),
            &[
                &project_id,
                &query.after.unwrap_or(0),
                &query.endpoint_id,
                &query.meeting_id,
                &query.status.map(MessageStatus::as_str),
                &(query.limit as i64 + 1),
                &settled,
            ],
        )
        .await?;
    let records = rows
        .iter()
        .map(|row| {
            let record = message_from_row(row);
            let position = record.position;
            (record, position)
        })
        .collect();
    Ok(Page::from_rows(records, query.limit))
}

pub async fn message(
    client: &impl GenericClient,
    project_id: &str,
    message_id: &str,
) -> PgResult<Option<MessageRecord>> {
    let Some(position) = message_position(message_id) else {
        return Ok(None);
    };
    let row = client
        .query_opt(
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN events e ON e.position = m.event_position
                 WHERE m.project_id = $1 AND m.position = $2"
            ),
            &[&project_id, &position],
        )
        .await?;
    Ok(row.as_ref().map(message_from_row))
}

pub async fn attempts(
    client: &impl GenericClient,
    message_id: &str,
    after: Option<i64>,
    limit: usize,
) -> PgResult<Page<AttemptRecord>> {
    let rows = client
        .query(
            "SELECT id, attempted_at, duration_ms, status_code, error_kind, response_body
             FROM attempts WHERE message_position = $1 AND id > $2 ORDER BY id LIMIT $3",
            &[
                &message_position(message_id),
                &after.unwrap_or(0),
                &(limit as i64 + 1),
            ],
        )
        .await?;
    let records = rows
        .iter()
        .map(|row| {
            let record = AttemptRecord {
                id: row.get(0),
                attempted_at: Timestamp(row.get(1)),
                duration_ms: row.get::<_, i64>(2) as u64,
                status_code: row.get::<_, Option<i32>>(3).map(|c| c as u16),
                error_kind: row.get(4),
                response_body: row.get::<_, Option<String>>(5).unwrap_or_default(),
            };
            let id = record.id;
            (record, id)
        })
        .collect();
    Ok(Page::from_rows(records, limit))
}

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
            "SELECT DISTINCT project_id, room_id FROM messages
             WHERE endpoint_id = $1 AND (status = 'waiting'
               OR (created_at >= $2 AND status IN ('failed', 'exhausted', 'skipped')))",
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
    promote_next(tx, &queues, |_| Promotion::DueNow, LeaseClock::Database).await?;
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
                 WHERE position = $1 RETURNING due_at"
            ),
            &[&position, &lease_ms, &clock.param(now)],
        )
        .await?;
    leased.resend_of = Some(resend_of);
    leased.lease_until = Timestamp(taken.get(0));
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
