//! Bounded growth of the idempotency records: signal ids are remembered for the
//! deduplication window (`signal_dedup_window`), then forgotten by the retention job.
//!
//! A supertrait of `Store`, so each store keeps this SQL in its own `pruning` file.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::timestamp::Timestamp;

#[async_trait]
pub trait Pruning: Send + Sync + 'static {
    /// Forgets up to `limit` signal ids received before `cutoff`, oldest first; a signal
    /// with such an id is then new again. Returns how many.
    async fn forget_signals(&self, cutoff: Timestamp, limit: usize) -> StoreResult<usize>;
}
