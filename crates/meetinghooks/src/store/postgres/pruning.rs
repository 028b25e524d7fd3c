//! Forgetting old signal ids on PostgreSQL, in batches. Rows another node is forgetting at
//! the same time are skipped, not waited for.

use async_trait::async_trait;

use super::error::PgError;
use super::PostgresStore;
use crate::domain::timestamp::Timestamp;
use crate::store::pruning::Pruning;
use crate::store::StoreResult;

#[async_trait]
impl Pruning for PostgresStore {
    async fn forget_signals(&self, cutoff: Timestamp, limit: usize) -> StoreResult<usize> {
        let client = self.client().await?;
        let deleted = client
            .execute(
                "DELETE FROM signals WHERE ctid IN
                   (SELECT ctid FROM signals WHERE received_at < $1
                    ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
                &[&cutoff.0, &(limit as i64)],
            )
            .await
            .map_err(PgError::from)?;
        Ok(deleted as usize)
    }
}
