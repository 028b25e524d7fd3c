//! Revoking an API key on SQLite: the writer's one thread makes "not the last key" and the
//! delete a single step.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::store::changes::Changes;
use crate::store::keys::{last_key, RevokeKey};
use crate::store::{StoreError, StoreResult};

#[async_trait]
impl RevokeKey for SqliteStore {
    async fn revoke_key(&self, project_id: &str, key_id: &str) -> StoreResult<()> {
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
}
