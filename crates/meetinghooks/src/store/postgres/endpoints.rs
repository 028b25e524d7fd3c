//! Endpoint rows in PostgreSQL: mapping to and from `Endpoint`, PATCHes and rotations that
//! write only their own columns, and the room-webhook secret.

use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};

use std::collections::BTreeSet;

use super::{requeue, PgError, PgResult};
use crate::domain::endpoint::{
    generate_secret, DeliveryChange, EnabledChange, Endpoint, EndpointPatch, Ordering,
};
use crate::domain::signatures::Signatures;
use crate::domain::subscription::Subscription;
use crate::domain::timestamp::Timestamp;
use crate::sealing::Sealer;
use crate::store::{room_webhook_endpoint, RoomWebhook, StoreError};

pub const COLUMNS: &str = "id, project_id, room_id, url, description, events, ordering, rate_limit,
    headers, retry_schedule, timeout_ms, disabled, disabled_reason, secret, secret_previous,
    secret_previous_until, failing_since, last_success_at, created_at, updated_at, signatures";

fn timestamp(row: &Row, index: usize) -> Option<Timestamp> {
    row.get::<_, Option<i64>>(index).map(Timestamp)
}

/// An endpoint row with its secrets opened.
pub fn opened(sealer: &Sealer, row: &Row) -> PgResult<Endpoint> {
    Ok(sealer.open_endpoint(from_row(row))?)
}

/// Endpoints are written by this store only, so unreadable JSON falls back to defaults.
fn from_row(row: &Row) -> Endpoint {
    let events: Vec<String> = serde_json::from_str(row.get(5)).unwrap_or_default();
    Endpoint {
        id: row.get(0),
        project_id: row.get(1),
        room_id: row.get(2),
        url: row.get(3),
        description: row.get(4),
        events: Subscription::parse(events).unwrap_or_else(|_| {
            Subscription::parse(vec!["*".into()]).expect("* is a valid pattern")
        }),
        ordering: Ordering::parse(row.get(6)).unwrap_or_default(),
        rate_limit: row.get::<_, Option<i64>>(7).map(|r| r as u32),
        headers: serde_json::from_str(row.get(8)).unwrap_or_default(),
        retry_schedule: row
            .get::<_, Option<&str>>(9)
            .and_then(|s| serde_json::from_str(s).ok()),
        timeout_ms: row.get::<_, Option<i64>>(10).map(|t| t as u64),
        disabled: row.get(11),
        disabled_reason: row.get(12),
        secret: row.get(13),
        secret_previous: row.get(14),
        secret_previous_until: timestamp(row, 15),
        failing_since: timestamp(row, 16),
        last_success_at: timestamp(row, 17),
        created_at: Timestamp(row.get(18)),
        updated_at: Timestamp(row.get(19)),
        signatures: Signatures::from_json(row.get(20)),
    }
}

/// Every column of an endpoint, in `COLUMNS` order, as statement parameters.
fn values(e: &Endpoint) -> [Box<dyn ToSql + Sync + Send + '_>; 21] {
    [
        Box::new(&e.id),
        Box::new(&e.project_id),
        Box::new(&e.room_id),
        Box::new(&e.url),
        Box::new(&e.description),
        Box::new(serde_json::to_string(e.events.patterns()).expect("patterns serialize")),
        Box::new(e.ordering.as_str()),
        Box::new(e.rate_limit.map(i64::from)),
        Box::new(serde_json::to_string(&e.headers).expect("headers serialize")),
        Box::new(
            e.retry_schedule
                .as_ref()
                .map(|s| serde_json::to_string(s).expect("schedule serializes")),
        ),
        Box::new(e.timeout_ms.map(|t| t as i64)),
        Box::new(e.disabled),
        Box::new(&e.disabled_reason),
        Box::new(&e.secret),
        Box::new(&e.secret_previous),
        Box::new(e.secret_previous_until.map(|t| t.0)),
        Box::new(e.failing_since.map(|t| t.0)),
        Box::new(e.last_success_at.map(|t| t.0)),
        Box::new(e.created_at.0),
        Box::new(e.updated_at.0),
        Box::new(e.signatures.to_json()),
    ]
}

fn params<'a>(values: &'a [Box<dyn ToSql + Sync + Send + 'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    values
        .iter()
        .map(|v| v.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

pub async fn insert(client: &impl GenericClient, sealer: &Sealer, e: &Endpoint) -> PgResult<()> {
    let sealed = sealer.seal_endpoint(e);
    let values = values(&sealed);
    client
        .execute(
            &format!(
                "INSERT INTO endpoints ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                 $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
            ),
            &params(&values),
        )
        .await?;
    Ok(())
}

/// A project's endpoints in creation order, or with `None` every endpoint (the dispatcher's).
pub async fn list(
    client: &impl GenericClient,
    sealer: &Sealer,
    project_id: Option<&str>,
) -> PgResult<Vec<Endpoint>> {
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM endpoints WHERE $1::TEXT IS NULL OR project_id = $1
                 ORDER BY created_at, id"
            ),
            &[&project_id],
        )
        .await?;
    rows.iter().map(|row| opened(sealer, row)).collect()
}

pub async fn get(
    client: &impl GenericClient,
    sealer: &Sealer,
    project_id: &str,
    id: &str,
) -> PgResult<Option<Endpoint>> {
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM endpoints WHERE project_id = $1 AND id = $2"),
            &[&project_id, &id],
        )
        .await?;
    row.map(|row| opened(sealer, &row)).transpose()
}

/// Applies a PATCH to the endpoint as stored. Lock order: the rooms of the queues a
/// re-enable moves on (sorted), then the endpoint, then its messages; if more queues appeared
/// meanwhile, the transaction starts again.
pub async fn update(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    project_id: &str,
    endpoint_id: &str,
    patch: &EndpointPatch,
) -> PgResult<Endpoint> {
    let rooms = match patch.enabled {
        EnabledChange::Enable => {
            let rooms = requeue::waiting_rooms(tx, endpoint_id).await?;
            requeue::lock_rooms(tx, &rooms).await?;
            rooms
        }
        EnabledChange::Keep | EnabledChange::Disable => BTreeSet::new(),
    };
    // FOR UPDATE: delivery on another node may be changing the delivery state right now.
    let mut endpoint = tx
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM endpoints WHERE project_id = $1 AND id = $2 FOR UPDATE"
            ),
            &[&project_id, &endpoint_id],
        )
        .await?
        .map(|row| opened(sealer, &row))
        .transpose()?
        .ok_or(StoreError::NotFound("endpoint"))?;
    let change = patch.apply(&mut endpoint);
    // Settings and delivery state only: rotation owns the secrets, delivery the last success.
    let e = &endpoint;
    tx.execute(
        "UPDATE endpoints SET url = $3, description = $4, events = $5, ordering = $6,
           rate_limit = $7, headers = $8, retry_schedule = $9, timeout_ms = $10,
           disabled = $11, disabled_reason = $12, failing_since = $13, updated_at = $14,
           signatures = $15
         WHERE project_id = $1 AND id = $2",
        &[
            &e.project_id,
            &e.id,
            &sealer.seal_url(&e.url),
            &e.description,
            &serde_json::to_string(e.events.patterns()).expect("patterns serialize"),
            &e.ordering.as_str(),
            &e.rate_limit.map(i64::from),
            &serde_json::to_string(&sealer.seal_headers(&e.headers)).expect("headers serialize"),
            &e.retry_schedule
                .as_ref()
                .map(|s| serde_json::to_string(s).expect("schedule serializes")),
            &e.timeout_ms.map(|t| t as i64),
            &e.disabled,
            &e.disabled_reason,
            &e.failing_since.map(|t| t.0),
            &e.updated_at.0,
            &e.signatures.to_json(),
        ],
    )
    .await?;
    match change {
        DeliveryChange::Disabled => {
            skip_queued(tx, endpoint_id).await?;
        }
        DeliveryChange::Enabled => {
            // A disable that raced with fan-out on another node can leave a queue waiting.
            if !requeue::waiting_rooms(tx, endpoint_id)
                .await?
                .is_subset(&rooms)
            {
                return Err(PgError::LockSetChanged);
            }
            requeue::promote_stranded(tx, endpoint_id, &rooms).await?;
        }
        DeliveryChange::Unchanged => {}
    }
    Ok(endpoint)
}

/// Rotates an account endpoint's secret in one statement; `None` when there is no such
/// account endpoint.
pub async fn rotate_secret(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    project_id: &str,
    id: &str,
    secret: &str,
    previous_until: Timestamp,
    now: Timestamp,
) -> PgResult<Option<Endpoint>> {
    let row = tx
        .query_opt(
            &format!(
                "UPDATE endpoints SET secret_previous = secret, secret = $3,
                   secret_previous_until = $4, updated_at = $5
                 WHERE project_id = $1 AND id = $2 AND room_id IS NULL RETURNING {COLUMNS}"
            ),
            &[
                &project_id,
                &id,
                &sealer.seal(secret),
                &previous_until.0,
                &now.0,
            ],
        )
        .await?;
    row.map(|row| opened(sealer, &row)).transpose()
}

/// Marks an endpoint's queued messages `skipped`, as when it is disabled.
pub async fn skip_queued(tx: &Transaction<'_>, endpoint_id: &str) -> PgResult<u64> {
    Ok(tx
        .execute(
            "UPDATE messages SET status = 'skipped'
             WHERE endpoint_id = $1 AND status IN ('waiting', 'pending')",
            &[&endpoint_id],
        )
        .await?)
}

/// The project's room-webhook secret, created on first use.
pub async fn room_secret(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    project_id: &str,
) -> PgResult<String> {
    let current = tx
        .query_opt(
            "SELECT room_secret FROM projects WHERE id = $1 FOR UPDATE",
            &[&project_id],
        )
        .await?
        .ok_or(StoreError::NotFound("project"))?;
    if let Some(sealed) = current.get::<_, Option<&str>>(0) {
        return Ok(sealer.open(sealed)?);
    }
    let secret = generate_secret();
    tx.execute(
        "UPDATE projects SET room_secret = $2 WHERE id = $1",
        &[&project_id, &sealer.seal(&secret)],
    )
    .await?;
    Ok(secret)
}

/// Creates or updates the endpoint that carries a room's own webhook.
pub async fn upsert_room_webhook(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    project_id: &str,
    room_id: &str,
    webhook: &RoomWebhook,
    now: Timestamp,
) -> PgResult<()> {
    let secret = room_secret(tx, sealer, project_id).await?;
    let events = serde_json::to_string(webhook.events.patterns()).expect("patterns serialize");
    let updated = tx
        .execute(
            "UPDATE endpoints SET url = $3, events = $4, updated_at = $5
             WHERE project_id = $1 AND room_id = $2",
            &[
                &project_id,
                &room_id,
                &sealer.seal_url(&webhook.end_point),
                &events,
                &now.0,
            ],
        )
        .await?;
    if updated == 0 {
        let row = tx
            .query_one(
                "SELECT room_secret_previous, room_secret_previous_until FROM projects WHERE id = $1",
                &[&project_id],
            )
            .await?;
        let previous = row
            .get::<_, Option<&str>>(0)
            .map(|s| sealer.open(s))
            .transpose()?;
        let previous = (previous, row.get::<_, Option<i64>>(1).map(Timestamp));
        let endpoint = room_webhook_endpoint(project_id, room_id, webhook, secret, previous, now);
        insert(&**tx, sealer, &endpoint).await?;
    }
    Ok(())
}

/// Deletes an account endpoint with its messages and their attempts; `true` if it existed.
pub async fn delete(tx: &Transaction<'_>, project_id: &str, endpoint_id: &str) -> PgResult<bool> {
    let deleted = tx
        .execute(
            "DELETE FROM endpoints WHERE project_id = $1 AND id = $2 AND room_id IS NULL",
            &[&project_id, &endpoint_id],
        )
        .await?;
    if deleted > 0 {
        // Messages first: that waits for an outcome transaction holding them, and the
        // attempts statement after it (a new snapshot) sees the attempts it committed.
        let positions: Vec<i64> = tx
            .query(
                "DELETE FROM messages WHERE endpoint_id = $1 RETURNING position",
                &[&endpoint_id],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        tx.execute(
            "DELETE FROM attempts WHERE message_position = ANY($1)",
            &[&positions],
        )
        .await?;
    }
    Ok(deleted > 0)
}

/// Seals what is still unsealed or sealed with a previous key, at start, in one transaction:
/// endpoint secrets, header values and URL credentials, the projects' room secrets, and
/// credentials left in the clear in rooms' webhook settings.
pub async fn reseal_all(tx: &Transaction<'_>, sealer: &Sealer) -> PgResult<u64> {
    let mut resealed = 0;
    let rows = tx
        .query(
            "SELECT id, secret, secret_previous, headers, url FROM endpoints FOR UPDATE",
            &[],
        )
        .await?;
    for row in rows {
        let (id, secret, previous, url): (&str, &str, Option<&str>, &str) =
            (row.get(0), row.get(1), row.get(2), row.get(4));
        let headers: std::collections::BTreeMap<String, String> =
            serde_json::from_str(row.get(3)).map_err(|e| super::error::corrupt("headers", e))?;
        let stale = std::iter::once(secret)
            .chain(previous)
            .chain(headers.values().map(String::as_str))
            .any(|value| sealer.needs_resealing(value))
            || sealer.url_needs_resealing(url);
        if !stale {
            continue;
        }
        let headers = headers
            .into_iter()
            .map(|(name, value)| Ok((name, sealer.reseal(&value)?)))
            .collect::<Result<std::collections::BTreeMap<_, _>, crate::sealing::SealError>>()?;
        tx.execute(
            "UPDATE endpoints SET secret = $2, secret_previous = $3, headers = $4, url = $5
             WHERE id = $1",
            &[
                &id,
                &sealer.reseal(secret)?,
                &previous.map(|p| sealer.reseal(p)).transpose()?,
                &serde_json::to_string(&headers).expect("headers serialize"),
                &sealer.reseal_url(url)?,
            ],
        )
        .await?;
        resealed += 1;
    }
    // A room's webhook setting is shown, never used to deliver: its credentials are dropped.
    let rows = tx
        .query(
            "SELECT project_id, room_id, webhook FROM rooms WHERE webhook LIKE '%@%' FOR UPDATE",
            &[],
        )
        .await?;
    for row in rows {
        let (project_id, room_id, webhook): (&str, &str, &str) =
            (row.get(0), row.get(1), row.get(2));
        let webhook: crate::store::RoomWebhook =
            serde_json::from_str(webhook).map_err(|e| super::error::corrupt("webhook", e))?;
        tx.execute(
            "UPDATE rooms SET webhook = $3 WHERE project_id = $1 AND room_id = $2",
            &[
                &project_id,
                &room_id,
                &serde_json::to_string(&webhook).expect("webhook serializes"),
            ],
        )
        .await?;
    }
    let rows = tx
        .query(
            "SELECT id, room_secret, room_secret_previous FROM projects FOR UPDATE",
            &[],
        )
        .await?;
    for row in rows {
        let (id, secret, previous): (&str, Option<&str>, Option<&str>) =
            (row.get(0), row.get(1), row.get(2));
        if !secret
            .into_iter()
            .chain(previous)
            .any(|v| sealer.needs_resealing(v))
        {
            continue;
        }
        tx.execute(
            "UPDATE projects SET room_secret = $2, room_secret_previous = $3 WHERE id = $1",
            &[
                &id,
                &secret.map(|s| sealer.reseal(s)).transpose()?,
                &previous.map(|p| sealer.reseal(p)).transpose()?,
            ],
        )
        .await?;
        resealed += 1;
    }
    Ok(resealed)
}
