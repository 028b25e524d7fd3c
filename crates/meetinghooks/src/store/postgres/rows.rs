//! Row mappers and listing helpers the PostgreSQL store's reads share.

use std::time::Duration;

use tokio_postgres::Row;

use super::error::{corrupt, PgResult};
use super::meeting;
use crate::domain::timestamp::Timestamp;
use crate::engine::SessionState;
use crate::outbox::event_id;
use crate::store::{Project, Room, SessionRecord, StoredEvent};

/// How long a listing waits for transactions still holding lower positions.
const SETTLE_WAIT: Duration = Duration::from_secs(2);

/// The highest position up to which a listing of `table` is complete. Concurrent transactions
/// take positions in one order and commit in another, so a reader paging by position could
/// pass a row that commits a moment later. Every transaction that took a position up to the
/// returned one has finished: the ones running when it was read are waited for (they are
/// short; after `SETTLE_WAIT` the listing goes ahead and says so in the log).
pub(super) async fn settled_position(
    client: &impl tokio_postgres::GenericClient,
    table: &str,
) -> PgResult<i64> {
    let horizon: i64 = client
        .query_one(&format!("SELECT last_value FROM {table}_position_seq"), &[])
        .await?
        .get(0);
    // Read after the horizon: a transaction that took a position up to it and has not
    // committed is running now, with an id (its first write came before its positions).
    let running: Vec<i64> = client
        .query(
            "SELECT x::TEXT::INT8 FROM pg_snapshot_xip(pg_current_snapshot()) AS x",
            &[],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let deadline = tokio::time::Instant::now() + SETTLE_WAIT;
    let still_running = "SELECT COUNT(*) FROM unnest($1::INT8[]) AS x
                         WHERE pg_xact_status(x::TEXT::XID8) = 'in progress'";
    while !running.is_empty() {
        let count: i64 = client.query_one(still_running, &[&running]).await?.get(0);
        if count == 0 {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            tracing::warn!(
                table,
                count,
                "listing without waiting for long transactions"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(horizon)
}

pub(super) fn project_from_row(row: &Row) -> Project {
    Project {
        id: row.get(0),
        name: row.get(1),
    }
}

pub(super) const ROOM_COLUMNS: &str = "room_id, custom, webhook, created_at";

pub(super) fn room_from_row(row: &Row) -> Room {
    let room_id: String = row.get(0);
    let custom: bool = row.get(1);
    let webhook: Option<String> = row.get(2);
    Room {
        custom_room_id: custom.then(|| room_id.clone()),
        room_id,
        webhook: webhook.and_then(|w| serde_json::from_str(&w).ok()),
        created_at: Timestamp(row.get(3)),
    }
}

pub(super) fn event_from_row(row: &Row) -> StoredEvent {
    let position: i64 = row.get(0);
    StoredEvent {
        id: event_id(position),
        position,
        meeting_id: row.get(1),
        session_id: row.get(2),
        sequence: row.get::<_, i64>(3) as u64,
        webhook_type: row.get(4),
        payload: row.get(5),
        created_at: Timestamp(row.get(6)),
    }
}

/// Session rows with their participants, as the sessions API lists them.
pub(super) async fn session_records(
    client: &impl tokio_postgres::GenericClient,
    project_id: &str,
    rows: Vec<Row>,
) -> PgResult<Vec<(SessionRecord, i64)>> {
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let doc: String = row.get(1);
        let session: SessionState =
            serde_json::from_str(&doc).map_err(|e| corrupt("session", e))?;
        let participants = meeting::session_participants(client, project_id, &session.id).await?;
        let record = SessionRecord {
            room_id: row.get(0),
            session,
            participants,
        };
        records.push((record, row.get(2)));
    }
    Ok(records)
}
