//! The sources part of the `Store` trait: LiveKit servers' credentials per project.

use async_trait::async_trait;

use super::{StoreError, StoreResult};
use crate::sources::Source;

#[async_trait]
pub trait SourceStore {
    /// Stores a source with its keys; an API key another source holds is `Busy` (409).
    async fn create_source(&self, source: Source) -> StoreResult<Source>;
    /// The project's sources, oldest first.
    async fn sources(&self, project_id: &str) -> StoreResult<Vec<Source>>;
    async fn source(&self, project_id: &str, source_id: &str) -> StoreResult<Option<Source>>;
    /// The source, in any project, that holds this API key.
    async fn source_by_api_key(&self, api_key: &str) -> StoreResult<Option<Source>>;
    /// Deletes a source and its keys; `false` if it did not exist.
    async fn delete_source(&self, project_id: &str, source_id: &str) -> StoreResult<bool>;
}

/// `create_source` with an API key another source holds.
pub fn api_key_taken(api_key: &str) -> StoreError {
    StoreError::Busy(format!("API key {api_key:?} belongs to another source"))
}
