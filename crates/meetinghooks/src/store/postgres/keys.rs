//! API keys on PostgreSQL. Revoking locks the project's row first (the lock order's first
//! step), so two nodes revoking a project's last two keys at once cannot both succeed.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::error::{PgError, PgResult};
use super::{PostgresStore, MAX_RETRIES};
use crate::domain::timestamp::Timestamp;
use crate::store::changes::Changes;
use crate::store::keys::{last_key, ApiKeyRecord, KeyMatch, KeyStore, NewApiKey};
use crate::store::{Project, StoreError, StoreResult};

const COLUMNS: &str = "id, prefix, created_at, last_used_at";

fn record_from_row(row: &Row) -> ApiKeyRecord {
    ApiKeyRecord {
        id: row.get(0),
        prefix: row.get(1),
        created_at: Timestamp(row.get(2)),
        last_used_at: row.get::<_, Option<i64>>(3).map(Timestamp),
    }
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn key_by_hash(&self, key_hash: [u8; 32]) -> StoreResult<Option<KeyMatch>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT p.id, p.name, k.id, k.last_used_at
                 FROM api_keys k JOIN projects p ON p.id = k.project_id WHERE k.key_hash = $1",
            )
            .await
            .map_err(PgError::from)?;
        let row = client
            .query_opt(&statement, &[&&key_hash[..]])
            .await
            .map_err(PgError::from)?;
        Ok(row.map(|row| KeyMatch {
            project: Project {
                id: row.get(0),
                name: row.get(1),
            },
            key_id: row.get(2),
            last_used_at: row.get::<_, Option<i64>>(3).map(Timestamp),
        }))
    }

    async fn api_keys(&self, project_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM api_keys WHERE project_id = $1 ORDER BY created_at, id"
                ),
                &[&project_id],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows.iter().map(record_from_row).collect())
    }

    async fn create_api_key(&self, project_id: &str, key: NewApiKey) -> StoreResult<ApiKeyRecord> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO api_keys (id, key_hash, project_id, prefix, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &key.id,
                    &&key.hash[..],
                    &project_id,
                    &key.prefix,
                    &key.created_at.0,
                ],
            )
            .await
            .map_err(PgError::from)?;
        Ok(ApiKeyRecord {
            id: key.id,
            prefix: Some(key.prefix),
            created_at: key.created_at,
            last_used_at: None,
        })
    }

    async fn revoke_api_key(&self, project_id: &str, key_id: &str) -> StoreResult<()> {
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

    async fn touch_api_key(&self, key_id: &str, prefix: &str, at: Timestamp) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE api_keys SET last_used_at = GREATEST(COALESCE(last_used_at, 0), $2),
                 prefix = COALESCE(prefix, $3) WHERE id = $1",
                &[&key_id, &at.0, &prefix],
            )
            .await
            .map_err(PgError::from)?;
        Ok(())
    }
}
