//! Endpoint writes in PostgreSQL: PATCHes that write only their own columns under the lock
//! order, deletes, the room webhooks and their secret (the columns, decoding and reads are
//! written once, in `store::endpoints`).

use deadpool_postgres::Transaction;
use tokio_postgres::{GenericClient, Row};

use std::collections::BTreeSet;

use super::query::execute_with;
use super::{requeue, PgError, PgResult};
use crate::domain::endpoint::{
    generate_secret, DeliveryChange, EnabledChange, Endpoint, EndpointPatch,
};
use crate::domain::timestamp::Timestamp;
use crate::sealing::Sealer;
use crate::store::endpoints::{
    self as shared, get_sql, insert_sql, settings_values, values, COLUMNS, UPDATE_SETTINGS,
};
use crate::store::{room_webhook_endpoint, RoomWebhook, StoreError};

/// An endpoint row with its secrets opened.
fn opened(sealer: &Sealer, row: &Row) -> PgResult<Endpoint> {
    Ok(shared::opened(sealer, shared::endpoint(row)?)?)
}

pub async fn insert(client: &impl GenericClient, sealer: &Sealer, e: &Endpoint) -> PgResult<()> {
    execute_with(client, &insert_sql(), values(sealer, e)).await?;
    Ok(())
}

pub async fn get(
    client: &impl GenericClient,
    sealer: &Sealer,
    project_id: &str,
    id: &str,
) -> PgResult<Option<Endpoint>> {
    let row = client.query_opt(&get_sql(), &[&project_id, &id]).await?;
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
    execute_with(&**tx, UPDATE_SETTINGS, settings_values(sealer, &endpoint)).await?;
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
            &[&project_id, &room_id, &webhook.end_point, &events, &now.0],
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
