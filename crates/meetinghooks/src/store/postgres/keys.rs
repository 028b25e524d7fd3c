//! Revoking an API key on PostgreSQL: it locks the project's row first (the lock order's
//! first step), so two nodes revoking a project's last two keys at once cannot both succeed.

use async_trait::async_trait;

use super::error::{PgError, PgResult};
use super::{PostgresStore, MAX_RETRIES};
use crate::store::changes::Changes;
use crate::store::keys::{last_key, RevokeKey};
use crate::store::{StoreError, StoreResult};

#[async_trait]
impl RevokeKey for PostgresStore {
    async fn revoke_key(&self, project_id: &str, key_id: &str) -> StoreResult<()> {
        transact!(self, |tx| async {
            let locked = tx
                .query_opt(
                    "SELECT 1 FROM projects WHERE id = $1 FOR UPDATE",
                    &[&project_id],
                )
                .await?;
            if locked.is_none() {
                return Err(PgError::Store(StoreError::NotFound("API key")));
            }
            let row = tx
                .query_one(
                    "SELECT COUNT(*), COUNT(*) FILTER (WHERE id = $2)
                     FROM api_keys WHERE project_id = $1",
                    &[&project_id, &key_id],
                )
                .await?;
            let (keys, this): (i64, i64) = (row.get(0), row.get(1));
            if this == 0 {
                return Err(PgError::Store(StoreError::NotFound("API key")));
            }
            if keys <= 1 {
                return Err(PgError::Store(last_key()));
            }
            tx.execute(
                "DELETE FROM api_keys WHERE project_id = $1 AND id = $2",
                &[&project_id, &key_id],
            )
            .await?;
            PgResult::Ok(())
        })
        .inspect(|_| self.hub.announce(Changes::KEYS))
    }
}
