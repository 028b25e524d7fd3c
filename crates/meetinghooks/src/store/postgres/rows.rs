//! Listing helpers the PostgreSQL store's reads share: the settled position, sessions with
//! their participants.

use std::time::Duration;

use tokio_postgres::Row;

use super::error::PgResult;
use super::meeting;
use crate::store::rows::{self, Columns};
use crate::store::SessionRecord;

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

/// Session rows with their participants, as the sessions API lists them.
pub(super) async fn session_records(
    client: &impl tokio_postgres::GenericClient,
    project_id: &str,
    rows: Vec<Row>,
) -> PgResult<Vec<(SessionRecord, i64)>> {
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let mut record = rows::session(&row)?;
        record.participants =
            meeting::session_participants(client, project_id, &record.session.id).await?;
        let position = if row.len() > 2 { row.int(2)? } else { 0 };
        records.push((record, position));
    }
    Ok(records)
}
