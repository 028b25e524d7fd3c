//! Forgetting old signal ids on SQLite, in batches through the writer.

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteStore;
use crate::domain::timestamp::Timestamp;
use crate::store::pruning::Pruning;
use crate::store::StoreResult;

#[async_trait]
impl Pruning for SqliteStore {
    async fn forget_signals(&self, cutoff: Timestamp, limit: usize) -> StoreResult<usize> {
        self.write_relaxed(move |conn, _| {
            Ok(conn.execute(
                "DELETE FROM signals WHERE (project_id, room_id, signal_id) IN
                   (SELECT project_id, room_id, signal_id FROM signals
                    WHERE received_at < ?1 ORDER BY received_at LIMIT ?2)",
                params![cutoff.0, limit as i64],
            )?)
        })
        .await
    }
}
