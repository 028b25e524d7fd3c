//! API keys as the store keeps them: listed by prefix, created, revoked, last use recorded.
//!
//! A separate trait (a supertrait of `Store`) so each store keeps its key SQL in its own
//! `keys` file. Only a key's SHA-256 is stored; its first characters are kept to name it.

use async_trait::async_trait;

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

/// The refusal to revoke a project's last key: without one the project could never be used.
pub(crate) fn last_key() -> StoreError {
    StoreError::Busy("this is the project's last API key; create another one first".into())
}
