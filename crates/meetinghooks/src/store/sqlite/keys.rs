//! API keys on SQLite: lookups through the readers, changes through the writer, whose one
//! thread makes "not the last key" and the delete a single step.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};

use super::SqliteStore;
use crate::domain::timestamp::Timestamp;
use crate::store::changes::Changes;
use crate::store::keys::{last_key, ApiKeyRecord, KeyMatch, KeyStore, NewApiKey};
use crate::store::{Project, StoreError, StoreResult};

const COLUMNS: &str = "id, prefix, created_at, last_used_at";

fn record_from_row(row: &Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: row.get(0)?,
        prefix: row.get(1)?,
        created_at: Timestamp(row.get(2)?),
        last_used_at: row.get::<_, Option<i64>>(3)?.map(Timestamp),
    })
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn key_by_hash(&self, key_hash: [u8; 32]) -> StoreResult<Option<KeyMatch>> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT p.id, p.name, k.id, k.last_used_at
                 FROM api_keys k JOIN projects p ON p.id = k.project_id WHERE k.key_hash = ?1",
            )?
            .query_row([&key_hash[..]], |row| {
                Ok(KeyMatch {
                    project: Project {
                        id: row.get(0)?,
                        name: row.get(1)?,
                    },
                    key_id: row.get(2)?,
                    last_used_at: row.get::<_, Option<i64>>(3)?.map(Timestamp),
                })
            })
            .optional()
        })
        .await
    }

    async fn api_keys(&self, project_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
        let project_id = project_id.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM api_keys WHERE project_id = ?1 ORDER BY created_at, id"
            ))?
            .query_map([project_id], record_from_row)?
            .collect()
        })
        .await
    }

    async fn create_api_key(&self, project_id: &str, key: NewApiKey) -> StoreResult<ApiKeyRecord> {
        let project_id = project_id.to_owned();
        self.write(move |conn, _| {
            conn.execute(
                "INSERT INTO api_keys (id, key_hash, project_id, prefix, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    key.id,
                    &key.hash[..],
                    project_id,
                    key.prefix,
                    key.created_at.0
                ],
            )?;
            Ok(ApiKeyRecord {
                id: key.id,
                prefix: Some(key.prefix),
                created_at: key.created_at,
                last_used_at: None,
            })
        })
        .await
    }

    async fn revoke_api_key(&self, project_id: &str, key_id: &str) -> StoreResult<()> {
        let (project_id, key_id) = (project_id.to_owned(), key_id.to_owned());
        self.write(move |conn, _| {
            let keys: i64 = conn.query_row(
                "SELECT COUNT(*) FROM api_keys WHERE project_id = ?1",
                [&project_id],
                |row| row.get(0),
            )?;
            let exists = conn
                .query_row(
                    "SELECT 1 FROM api_keys WHERE project_id = ?1 AND id = ?2",
                    params![project_id, key_id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !exists {
                return Err(StoreError::NotFound("API key"));
            }
            if keys <= 1 {
                return Err(last_key());
            }
            conn.execute(
                "DELETE FROM api_keys WHERE project_id = ?1 AND id = ?2",
                params![project_id, key_id],
            )?;
            Ok(())
        })
        .await
        .inspect(|_| self.hub.announce(Changes::KEYS))
    }

    async fn touch_api_key(&self, key_id: &str, prefix: &str, at: Timestamp) -> StoreResult<()> {
        let (key_id, prefix) = (key_id.to_owned(), prefix.to_owned());
        self.write_relaxed(move |conn, _| {
            conn.execute(
                "UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?2),
                 prefix = COALESCE(prefix, ?3) WHERE id = ?1",
                params![key_id, at.0, prefix],
            )?;
            Ok(())
        })
        .await
    }
}
