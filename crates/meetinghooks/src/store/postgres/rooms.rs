//! Rooms, their own webhooks, and the room-webhook secret.

use super::endpoints;
use super::error::PgResult;
use super::{PostgresStore, MAX_RETRIES};
use crate::domain::timestamp::Timestamp;
use crate::store::changes::Changes;
use crate::store::rows::{self, ROOM_COLUMNS};
use crate::store::{Room, RoomSettings, StoreError, StoreResult};

pub(super) async fn upsert_room(
    store: &PostgresStore,
    project_id: &str,
    room_id: &str,
    custom: bool,
    RoomSettings {
        webhook,
        auto_close,
    }: RoomSettings,
) -> StoreResult<(Room, bool)> {
    let webhook_json = webhook
        .as_ref()
        .map(|w| serde_json::to_string(w).expect("webhook serializes"));
    let auto_close = auto_close.map(|a| serde_json::to_string(&a).expect("config serializes"));
    transact!(store, |tx| async {
        let now = Timestamp::now();
        // Lock order: the project (its room secret) before the room.
        if webhook.is_some() {
            endpoints::room_secret(&tx, &store.sealer, project_id).await?;
        }
        let created = tx
            .execute(
                "INSERT INTO rooms
                   (project_id, room_id, custom, webhook, state, created_at, updated_at, auto_close)
                 VALUES ($1, $2, $3, $4, '{}', $5, $5, $6) ON CONFLICT DO NOTHING",
                &[
                    &project_id,
                    &room_id,
                    &custom,
                    &webhook_json,
                    &now.0,
                    &auto_close,
                ],
            )
            .await?
            == 1;
        if !created && (webhook_json.is_some() || auto_close.is_some()) {
            tx.execute(
                "UPDATE rooms SET webhook = coalesce($3, webhook),
                   auto_close = coalesce($4, auto_close), updated_at = $5
                 WHERE project_id = $1 AND room_id = $2",
                &[&project_id, &room_id, &webhook_json, &auto_close, &now.0],
            )
            .await?;
        }
        if let Some(webhook) = &webhook {
            endpoints::upsert_room_webhook(&tx, &store.sealer, project_id, room_id, webhook, now)
                .await?;
        }
        let row = tx
            .query_one(
                &format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE project_id = $1 AND room_id = $2"),
                &[&project_id, &room_id],
            )
            .await?;
        PgResult::Ok((rows::room(&row)?, created))
    })
    .inspect(|_| {
        let announce = Changes::ENDPOINTS.if_any(usize::from(webhook.is_some()));
        store.hub.announce(announce)
    })
}

pub(super) async fn rotate_room_secret(
    store: &PostgresStore,
    project_id: &str,
    secret: String,
    previous_until: Timestamp,
) -> StoreResult<String> {
    transact!(store, |tx| async {
        let sealer = &store.sealer;
        let previous = sealer.seal(&endpoints::room_secret(&tx, sealer, project_id).await?);
        let sealed = sealer.seal(&secret);
        tx.execute(
            "UPDATE projects SET room_secret = $2, room_secret_previous = $3,
             room_secret_previous_until = $4 WHERE id = $1",
            &[&project_id, &sealed, &previous, &previous_until.0],
        )
        .await?;
        tx.execute(
            "UPDATE endpoints SET secret = $2, secret_previous = $3, secret_previous_until = $4
             WHERE project_id = $1 AND room_id IS NOT NULL",
            &[&project_id, &sealed, &previous, &previous_until.0],
        )
        .await?;
        PgResult::Ok(secret.clone())
    })
    .inspect(|_| store.hub.announce(Changes::ENDPOINTS))
}
