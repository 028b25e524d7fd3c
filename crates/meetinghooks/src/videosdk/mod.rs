//! The VideoSDK signature: each project's RSA key pair and the `videosdk-signature` it makes
//! (base64 RSASSA-PKCS1-v1_5 with SHA-256 over the exact body bytes).

pub mod keys;

pub use keys::{generate_private_pem, public_pem, RsaKeyError, VideosdkSigner};

/// The header VideoSDK receivers verify.
pub const HEADER: &str = "videosdk-signature";

use crate::store::rsa_keys::ProjectRsaKeys;
use crate::store::{Store, StoreError, StoreResult};

/// The project's RSA keys, generating the first one (on a blocking thread) when it has none:
/// at project creation, and lazily for projects from before RSA keys. Two callers racing keep
/// the first key stored.
pub async fn ensure_project_keys(
    store: &dyn Store,
    project_id: &str,
) -> StoreResult<ProjectRsaKeys> {
    if let Some(keys) = store.rsa_keys(project_id).await? {
        return Ok(keys);
    }
    let pem = tokio::task::spawn_blocking(generate_private_pem)
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))?
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    store.set_rsa_key_if_absent(project_id, pem).await
}

/// At start, in the background: every project without an RSA key gets one, until `stop`.
pub async fn ensure_all_project_keys(
    store: std::sync::Arc<dyn Store>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let projects = match store.projects_without_rsa_key().await {
        Ok(projects) => projects,
        Err(e) => return tracing::warn!(error = %e, "listing projects without an RSA key failed"),
    };
    for project in projects {
        if *stop.borrow() {
            return;
        }
        if let Err(e) = ensure_project_keys(&*store, &project).await {
            tracing::warn!(project, error = %e, "generating an RSA key failed");
        }
    }
}
