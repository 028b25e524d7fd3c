//! The retention job: deletes finished messages and their attempts once they are older than
//! `retention_days`, in small batches so it never holds the database for long.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::domain::timestamp::Timestamp;
use crate::store::Store;

/// Rows per transaction: small enough that ingest and delivery barely notice.
const BATCH: usize = 500;
const EVERY: Duration = Duration::from_secs(3600);
/// The first pass waits a little, so a starting node serves before it cleans.
const FIRST_PASS_AFTER: Duration = Duration::from_secs(60);

pub async fn run(store: Arc<dyn Store>, retention_days: u32, mut stop: watch::Receiver<bool>) {
    let mut wait = FIRST_PASS_AFTER;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        wait = EVERY;
        let max_age_ms = i64::from(retention_days) * 86_400_000;
        match sweep(
            store.as_ref(),
            Timestamp::now().plus_millis(-max_age_ms),
            &mut stop,
        )
        .await
        {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, retention_days, "deleted finished messages"),
            Err(e) => tracing::warn!(error = %e, "retention pass failed; next pass retries"),
        }
    }
}

/// Deletes everything finished before `cutoff`, batch by batch; returns how many messages.
pub async fn sweep(
    store: &dyn Store,
    cutoff: Timestamp,
    stop: &mut watch::Receiver<bool>,
) -> Result<usize, crate::store::StoreError> {
    let mut total = 0;
    loop {
        let deleted = store.delete_finished(cutoff, BATCH).await?;
        total += deleted;
        if deleted < BATCH || *stop.borrow() {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}
