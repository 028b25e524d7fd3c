//! `/v1/api-keys`: a project's keys, listed by prefix; new keys, shown once; revocation,
//! which every node honours within a second (see `key_cache`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Caller;
use super::AppState;
use crate::domain::ids::{generate_api_key, random_hex_id, sha256};
use crate::domain::timestamp::Timestamp;
use crate::store::keys::{key_prefix, ApiKeyRecord, NewApiKey};

/// More keys than anyone rotates through; the cap keeps one caller from growing the table.
pub const MAX_KEYS_PER_PROJECT: usize = 100;

/// An API key as listed: never the key itself.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    #[schema(example = "key_3f9c2a7e1b0d4c85")]
    id: String,
    /// The key's first 8 characters, to tell keys apart; `null` for a key made before
    /// prefixes were kept and not used since.
    #[schema(example = "mhk_Xk3f")]
    prefix: Option<String>,
    created_at: String,
    /// Recorded at most once a minute, so up to a minute old.
    last_used_at: Option<String>,
    /// The key: only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl ApiKeyView {
    fn of(record: ApiKeyRecord) -> Self {
        ApiKeyView {
            id: record.id,
            prefix: record.prefix,
            created_at: record.created_at.to_rfc3339(),
            last_used_at: record.last_used_at.map(Timestamp::to_rfc3339),
            key: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyList {
    data: Vec<ApiKeyView>,
}

/// Lists the project's API keys
///
/// Oldest first, each by id and prefix with its creation and last-use times; the keys
/// themselves are never shown again after they were created.
#[utoipa::path(get, path = "/v1/api-keys", operation_id = "listApiKeys", tag = "api-keys",
    responses(
        (status = 200, description = "The project's keys", body = ApiKeyList),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(project): Caller,
) -> ApiResult<Json<ApiKeyList>> {
    let keys = state.store.api_keys(&project.id).await?;
    Ok(Json(ApiKeyList {
        data: keys.into_iter().map(ApiKeyView::of).collect(),
    }))
}

/// Creates an API key
///
/// A new key for the caller's project, shown in this answer only: only its hash is stored.
/// A project has at most 100 keys.
#[utoipa::path(post, path = "/v1/api-keys", operation_id = "createApiKey", tag = "api-keys",
    responses(
        (status = 201, description = "The new key, shown this once", body = ApiKeyView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 409, description = "The project has 100 keys already", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Caller(project): Caller,
) -> ApiResult<(StatusCode, Json<ApiKeyView>)> {
    if state.store.api_keys(&project.id).await?.len() >= MAX_KEYS_PER_PROJECT {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_keys",
            format!("a project has at most {MAX_KEYS_PER_PROJECT} API keys; revoke one first"),
        ));
    }
    let key = generate_api_key();
    let new = NewApiKey {
        id: random_hex_id("key_", 8),
        hash: sha256(key.as_bytes()),
        prefix: key_prefix(&key),
        created_at: Timestamp::now(),
    };
    let record = state.store.create_api_key(&project.id, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyView {
            key: Some(key),
            ..ApiKeyView::of(record)
        }),
    ))
}

/// Revokes an API key
///
/// The key is refused from then on, on every node within a second. The caller may revoke
/// the key it uses, but not the project's last key (409).
#[utoipa::path(delete, path = "/v1/api-keys/{id}", operation_id = "revokeApiKey",
    tag = "api-keys",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such key in this project", body = ErrorBody),
        (status = 409, description = "The project's last key", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    Caller(project): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.store.revoke_api_key(&project.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
