//! The settled position PostgreSQL's listings stop at.

use std::time::Duration;

use super::error::PgResult;

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
