//! API keys as the store keeps them: listed by prefix, created, revoked, last use recorded.
//!
//! A separate trait (a supertrait of `Store`), written once over the shared query executor;
//! only revoking, which must check "not the last key" under each dialect's own lock, is the
//! stores' own. Only a key's SHA-256 is stored; its first characters are kept to name it.

use async_trait::async_trait;

use super::query::{args, Commit, Query, Row};
use super::rows::Columns;
use super::{Project, StoreError, StoreResult};
use crate::domain::timestamp::Timestamp;

/// How many leading characters of a key are kept to name it in listings.
pub const PREFIX_CHARS: usize = 8;

/// The leading characters of `key` that name it; too few to guess the rest.
pub fn key_prefix(key: &str) -> String {
    key.chars().take(PREFIX_CHARS).collect()
}

/// A stored API key, without anything that would let it be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: String,
    /// `None` for keys stored before prefixes were kept and not used since.
    pub prefix: Option<String>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// A new key as the store receives it: its hash and its prefix, never the key itself.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: String,
    pub hash: [u8; 32],
    pub prefix: String,
    pub created_at: Timestamp,
}

/// What authenticating with a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMatch {
    pub project: Project,
    pub key_id: String,
    pub last_used_at: Option<Timestamp>,
}

#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// The project and key a key hash belongs to, if the key exists (is not revoked).
    async fn key_by_hash(&self, key_hash: [u8; 32]) -> StoreResult<Option<KeyMatch>>;
    /// The project's keys, oldest first.
    async fn api_keys(&self, project_id: &str) -> StoreResult<Vec<ApiKeyRecord>>;
    async fn create_api_key(&self, project_id: &str, key: NewApiKey) -> StoreResult<ApiKeyRecord>;
    /// Deletes the key and announces `Changes::KEYS`. `NotFound` for another project's key,
    /// `Busy` for the project's last key.
    async fn revoke_api_key(&self, project_id: &str, key_id: &str) -> StoreResult<()>;
    /// Records a use of the key at `at`, and its prefix where none was kept. Callers write
    /// at most once a minute per key; a relaxed write (losing one is harmless).
    async fn touch_api_key(&self, key_id: &str, prefix: &str, at: Timestamp) -> StoreResult<()>;
}

/// Revoking a key, each dialect under its own lock: SQLite's single writer, PostgreSQL's
/// project row.
#[async_trait]
pub(crate) trait RevokeKey {
    async fn revoke_key(&self, project_id: &str, key_id: &str) -> StoreResult<()>;
}

const COLUMNS: &str = "id, prefix, created_at, last_used_at";

fn record(row: &Row) -> StoreResult<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: row.text(0)?,
        prefix: row.opt_text(1)?,
        created_at: Timestamp(row.int(2)?),
        last_used_at: row.opt_int(3)?.map(Timestamp),
    })
}

#[async_trait]
impl<S: Query + RevokeKey + 'static> KeyStore for S {
    async fn key_by_hash(&self, key_hash: [u8; 32]) -> StoreResult<Option<KeyMatch>> {
        let sql = "SELECT p.id, p.name, k.id, k.last_used_at
                   FROM api_keys k JOIN projects p ON p.id = k.project_id WHERE k.key_hash = $1";
        self.first(sql, args![&key_hash[..]], |row| {
            Ok(KeyMatch {
                project: Project {
                    id: row.text(0)?,
                    name: row.text(1)?,
                },
                key_id: row.text(2)?,
                last_used_at: row.opt_int(3)?.map(Timestamp),
            })
        })
        .await
    }

    async fn api_keys(&self, project_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
        let sql =
            format!("SELECT {COLUMNS} FROM api_keys WHERE project_id = $1 ORDER BY created_at, id");
        self.all(&sql, args![project_id], record).await
    }

    async fn create_api_key(&self, project_id: &str, key: NewApiKey) -> StoreResult<ApiKeyRecord> {
        self.execute(
            "INSERT INTO api_keys (id, key_hash, project_id, prefix, created_at)
             VALUES ($1, $2, $3, $4, $5)",
            args![
                &key.id,
                &key.hash[..],
                project_id,
                &key.prefix,
                key.created_at.0
            ],
            Commit::Durable,
        )
        .await?;
        Ok(ApiKeyRecord {
            id: key.id,
            prefix: Some(key.prefix),
            created_at: key.created_at,
            last_used_at: None,
        })
    }

    async fn revoke_api_key(&self, project_id: &str, key_id: &str) -> StoreResult<()> {
        self.revoke_key(project_id, key_id).await
    }

    async fn touch_api_key(&self, key_id: &str, prefix: &str, at: Timestamp) -> StoreResult<()> {
        self.execute(
            "UPDATE api_keys SET prefix = COALESCE(prefix, $3), last_used_at =
               CASE WHEN last_used_at IS NULL OR last_used_at < $2 THEN $2 ELSE last_used_at END
             WHERE id = $1",
            args![key_id, at.0, prefix],
            Commit::Relaxed,
        )
        .await?;
        Ok(())
    }
}

/// The refusal to revoke a project's last key: without one the project could never be used.
pub(crate) fn last_key() -> StoreError {
    StoreError::Busy("this is the project's last API key; create another one first".into())
}
