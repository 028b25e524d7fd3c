//! The retention job: deletes finished messages and their attempts once they are older than
//! `retention_days`, and forgets signal ids older than `signal_dedup_window`, in small
//! batches so it never holds the database for long.

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

/// How long things are kept.
#[derive(Debug, Clone, Copy)]
pub struct RetentionPolicy {
    pub retention_days: u32,
    /// A signal id re-sent within this window is a duplicate; after it, a new signal.
    pub signal_dedup_window: Duration,
}

impl RetentionPolicy {
    /// Passes run hourly, or four times per window when it is shorter, so an id is
    /// forgotten at most a quarter window late.
    fn every(self) -> Duration {
        EVERY.min(self.signal_dedup_window / 4)
    }
}

pub async fn run(store: Arc<dyn Store>, policy: RetentionPolicy, mut stop: watch::Receiver<bool>) {
    let mut wait = FIRST_PASS_AFTER.min(policy.every());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        wait = policy.every();
        let max_age_ms = i64::from(policy.retention_days) * 86_400_000;
        match sweep(
            store.as_ref(),
            Timestamp::now().plus_millis(-max_age_ms),
            &mut stop,
        )
        .await
        {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(
                deleted,
                retention_days = policy.retention_days,
                "deleted finished messages"
            ),
            Err(e) => tracing::warn!(error = %e, "retention pass failed; next pass retries"),
        }
        let window_ms = policy.signal_dedup_window.as_millis() as i64;
        match forget_signals(
            store.as_ref(),
            Timestamp::now().plus_millis(-window_ms),
            &mut stop,
        )
        .await
        {
            Ok(0) => {}
            Ok(forgotten) => tracing::debug!(forgotten, "forgot signal ids past the window"),
            Err(e) => tracing::warn!(error = %e, "forgetting signal ids failed; next pass retries"),
        }
    }
}

/// Forgets every signal id received before `cutoff`, batch by batch; returns how many.
pub async fn forget_signals(
    store: &dyn Store,
    cutoff: Timestamp,
    stop: &mut watch::Receiver<bool>,
) -> Result<usize, crate::store::StoreError> {
    in_batches(stop, |limit| store.forget_signals(cutoff, limit)).await
}

/// Deletes everything finished before `cutoff`, batch by batch; returns how many messages.
pub async fn sweep(
    store: &dyn Store,
    cutoff: Timestamp,
    stop: &mut watch::Receiver<bool>,
) -> Result<usize, crate::store::StoreError> {
    in_batches(stop, |limit| store.delete_finished(cutoff, limit)).await
}

/// Runs `batch` with `BATCH` until a batch comes back short or shutdown is asked, yielding
/// between batches so a long backlog never holds the runtime; returns the total.
async fn in_batches<F, Fut>(
    stop: &watch::Receiver<bool>,
    mut batch: F,
) -> Result<usize, crate::store::StoreError>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<usize, crate::store::StoreError>>,
{
    let mut total = 0;
    loop {
        let done = batch(BATCH).await?;
        total += done;
        if done < BATCH || *stop.borrow() {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}
