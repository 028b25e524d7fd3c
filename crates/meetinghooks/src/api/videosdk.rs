//! The project's RSA public key, which verifies `videosdk-signature`
//! (`GET /v2/public/rsa-public-key`, VideoSDK's route), and its rotation.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::Caller;
use super::AppState;
use crate::domain::timestamp::Timestamp;
use crate::store::rsa_keys::ProjectRsaKeys;
use crate::store::StoreError;
use crate::videosdk::{ensure_project_keys, generate_private_pem, public_pem};

type ApiResult<T> = Result<T, ApiError>;

/// The public key that verifies `videosdk-signature`, as PKCS#1 PEM
/// (`-----BEGIN RSA PUBLIC KEY-----`), the form Python's `rsa.PublicKey.load_pkcs1` reads and
/// Node's `crypto.verify` reads too.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RsaPublicKeyView {
    /// The key that signs now.
    public_key: String,
    /// After a rotation: the key that signs from `nextPublicKeyFrom` on. Trust both until then.
    next_public_key: Option<String>,
    next_public_key_from: Option<String>,
}

fn view(keys: &ProjectRsaKeys, now: Timestamp) -> ApiResult<RsaPublicKeyView> {
    let public = |pem: &str| {
        public_pem(pem).map_err(|e| ApiError::from(StoreError::Internal(e.to_string())))
    };
    let upcoming = keys.upcoming(now);
    Ok(RsaPublicKeyView {
        public_key: public(keys.signing(now))?,
        next_public_key: upcoming.map(|next| public(&next.private_pem)).transpose()?,
        next_public_key_from: upcoming.map(|next| next.from.to_rfc3339()),
    })
}

/// Reads the RSA public key
///
/// The key that verifies the `videosdk-signature` header of room webhooks and of endpoints
/// with `"videosdk"` in `signatures`. Unlike VideoSDK's, it needs the API key: each project
/// has its own key pair. `Authorization` may be the bare key, as VideoSDK clients send it.
#[utoipa::path(get, path = "/v2/public/rsa-public-key", operation_id = "getRsaPublicKey", tag = "rooms",
    responses(
        (status = 200, description = "The public key", body = RsaPublicKeyView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn public_key(
    State(state): State<AppState>,
    Caller(project): Caller,
) -> ApiResult<Json<RsaPublicKeyView>> {
    let keys = ensure_project_keys(&*state.store, &project.id).await?;
    Ok(Json(view(&keys, Timestamp::now())?))
}

/// Rotates the RSA key
///
/// A new key pair; the current key keeps signing until `nextPublicKeyFrom`
/// (`secret_rotation_overlap` from now), then the new one signs. Both are published meanwhile.
#[utoipa::path(post, path = "/v1/room-webhooks/rsa-key/rotate", operation_id = "rotateRsaKey", tag = "endpoints",
    responses(
        (status = 200, description = "The key signing now and the next one", body = RsaPublicKeyView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn rotate(
    State(state): State<AppState>,
    Caller(project): Caller,
) -> ApiResult<Json<RsaPublicKeyView>> {
    let pem = tokio::task::spawn_blocking(generate_private_pem)
        .await
        .map_err(|e| ApiError::from(StoreError::Internal(e.to_string())))?
        .map_err(|e| ApiError::from(StoreError::Internal(e.to_string())))?;
    let now = Timestamp::now();
    let from = now.plus_millis(state.secret_overlap_ms);
    let keys = state
        .store
        .rotate_rsa_key(&project.id, pem, from, now)
        .await?;
    Ok(Json(view(&keys, now)?))
}
