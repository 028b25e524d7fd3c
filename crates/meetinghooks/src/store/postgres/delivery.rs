//! The outbox in PostgreSQL: fan-out, leases that expire (`FOR UPDATE SKIP LOCKED`),
//! promotion under the meeting's room lock, retention. The rules are `crate::outbox`'s.
//!
//! Ordering across nodes: whether a new message waits (fan-out) and which message goes next
//! (promotion) are both decided while holding the meeting's room row, so they never race.

use std::collections::{BTreeSet, HashMap};

use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::PgResult;
use crate::domain::timestamp::Timestamp;
use crate::outbox::{self, fence, FannedOut, Target};
use crate::outbox::{NewEvent, NewMessage, Promote, Promotion, QueueHead, QueueKey};
use crate::store::sql;
use crate::store::{LeaseBatch, LeaseRequest, Leased};

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
    pub(super) fn param(self, now: Timestamp) -> Option<i64> {
        match self {
            LeaseClock::Database => None,
            LeaseClock::Caller => Some(now.0),
        }
    }
}

/// The endpoints events of `rooms` may go to: the project's account endpoints and those
/// rooms' own webhooks, through the `(project_id, room_id)` key; never every room's webhook.
pub async fn targets(
    tx: &Transaction<'_>,
    project_id: &str,
    rooms: &[&str],
) -> PgResult<Vec<Target>> {
    let statement = tx
        .prepare_cached(
            "SELECT id, room_id, events, ordering, disabled FROM endpoints
             WHERE project_id = $1 AND room_id IS NULL
             UNION ALL
             SELECT id, room_id, events, ordering, disabled FROM endpoints
             WHERE project_id = $1 AND room_id = ANY($2)",
        )
        .await?;
    let rows = tx.query(&statement, &[&project_id, &rooms]).await?;
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
) -> PgResult<FannedOut> {
    let asked = outbox::queues_to_check(targets, events);
    let busy = busy_queues(tx, &asked, Holding::AnyToGo).await?;
    let messages = outbox::plan_fan_out(targets, events, &busy);
    if messages.is_empty() {
        return Ok(FannedOut::default());
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
    tx.execute(
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
    Ok(FannedOut::of(&messages))
}

/// Which messages make a queue busy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Holding {
    /// A waiting, pending or delivering message: a new ordered message waits behind it.
    AnyToGo,
    /// A pending or delivering message: the queue's head may not go, nor a resend overtake.
    InLine,
}

/// Which of these queues hold such a message: one statement for them all.
pub(super) async fn busy_queues<'a>(
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

/// The last column is what is left of the lease by the database's clock as the row is read
/// (the same expression as [`DB_NOW_MS`]).
pub(super) const LEASED_COLUMNS: &str =
    "m.position, m.endpoint_id, m.room_id, m.ordered, e.sequence,
    e.payload, m.attempts, e.created_at, m.status, m.due_at,
    m.due_at - (extract(epoch FROM clock_timestamp()) * 1000)::int8";

pub(super) fn leased_from_row(row: &Row) -> Leased {
    Leased {
        // Named by the store on its way out (`store::named`).
        message_id: String::new(),
        position: row.get(0),
        endpoint_id: row.get(1),
        room_id: row.get(2),
        ordered: row.get(3),
        sequence: row.get::<_, i64>(4) as u64,
        payload: row.get(5),
        attempts: row.get::<_, i32>(6) as u32,
        event_created_at: Timestamp(row.get(7)),
        resend_of: None,
        lease_until: Timestamp(row.get(9)),
        lease_left_ms: row.get(10),
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

/// Promoted messages as the columns of one `unnest` update; no lease means pending.
#[derive(Default)]
struct PromoteColumns {
    position: Vec<i64>,
    lease_ms: Vec<Option<i64>>,
}

/// Makes the oldest waiting message of each (endpoint, meeting) pair due, where none is in
/// line. The caller holds the meetings' room locks. Where `lease_for(endpoint)` gives a lease,
/// the message is leased at once and returned, so it is sent without another round trip.
pub(super) async fn promote_next(
    tx: &Transaction<'_>,
    queues: &BTreeSet<QueueKey<'_>>,
    plan: impl for<'h> FnOnce(&[QueueHead<'h>]) -> Vec<Promote<'h>>,
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
    for p in plan(&heads) {
        // The lease's length on this node's clock, measured after the locks were taken; one
        // already over is not handed out (the message is promoted as pending and leased by
        // a round instead). The statement adds it to the database's clock.
        let lease_ms = match p.how {
            Promotion::Lease(until) => fence::promotion_lease_ms(until, now),
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
