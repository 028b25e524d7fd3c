//! The wrapper's key and pruning calls, passed to the real store unchanged.

use async_trait::async_trait;
use meetinghooks::domain::timestamp::Timestamp;
use meetinghooks::store::*;

use super::CountingStore;

#[async_trait]
impl keys::KeyStore for CountingStore {
    async fn key_by_hash(&self, key_hash: [u8; 32]) -> StoreResult<Option<keys::KeyMatch>> {
        self.inner.key_by_hash(key_hash).await
    }
    async fn api_keys(&self, project_id: &str) -> StoreResult<Vec<keys::ApiKeyRecord>> {
        self.inner.api_keys(project_id).await
    }
    async fn create_api_key(
        &self,
        project_id: &str,
        key: keys::NewApiKey,
    ) -> StoreResult<keys::ApiKeyRecord> {
        self.inner.create_api_key(project_id, key).await
    }
    async fn revoke_api_key(&self, project_id: &str, key_id: &str) -> StoreResult<()> {
        self.inner.revoke_api_key(project_id, key_id).await
    }
    async fn touch_api_key(&self, key_id: &str, prefix: &str, at: Timestamp) -> StoreResult<()> {
        self.inner.touch_api_key(key_id, prefix, at).await
    }
}

#[async_trait]
impl pruning::Pruning for CountingStore {
    async fn forget_signals(&self, cutoff: Timestamp, limit: usize) -> StoreResult<usize> {
        self.inner.forget_signals(cutoff, limit).await
    }
}
