//! `/v1/sources`: media servers that post their own webhooks (LiveKit), per project. Their
//! secrets are taken once and never shown again; `livekit` receives their requests.

pub(super) mod livekit;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Caller, JsonBody};
use super::AppState;
use crate::domain::ids::random_hex_id;
use crate::domain::signal::is_http_url;
use crate::domain::timestamp::Timestamp;
use crate::sources::{HlsRewrite, Source, SourceKey, SourceKind};

const MAX_KEYS: usize = 10;
const MAX_KEY_LEN: usize = 128;
const MAX_SECRET_LEN: usize = 512;

/// A new source.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceInput {
    /// Only `livekit` today.
    #[schema(example = "livekit", pattern = "^livekit$")]
    kind: String,
    /// 1-10 key pairs the server may sign with (more than one during a rotation).
    #[schema(min_items = 1, max_items = 10)]
    keys: Vec<KeyInput>,
    /// Rewrites the start of HLS playlist locations (storage) to a public base URL.
    hls_rewrite: Option<RewriteInput>,
}

/// The input side of [`RewriteView`]: both ends must be http(s) URLs. (The view carries no
/// pattern: it shows what is stored.)
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RewriteInput {
    /// A storage URL prefix, e.g. `https://bucket.s3.amazonaws.com/`.
    #[schema(
        min_length = 1,
        max_length = 2048,
        // The grammar of `api::target_url` (a literal: utoipa takes no constant here).
        pattern = "^https?://([A-Za-z0-9._~-]+(:[A-Za-z0-9._~-]*)?@)?(((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])|((?![Xx][Nn]--)[A-Za-z0-9-]+\\.)*(?![Xx][Nn]--)[A-Za-z][A-Za-z0-9-]*)(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[A-Za-z0-9._~-]*)*(\\?[A-Za-z0-9._~=&-]*)?$"
    )]
    from: String,
    /// The public base URL that replaces it, e.g. `https://cdn.example.com/`.
    #[schema(
        min_length = 1,
        max_length = 2048,
        // The grammar of `api::target_url` (a literal: utoipa takes no constant here).
        pattern = "^https?://([A-Za-z0-9._~-]+(:[A-Za-z0-9._~-]*)?@)?(((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])|((?![Xx][Nn]--)[A-Za-z0-9-]+\\.)*(?![Xx][Nn]--)[A-Za-z][A-Za-z0-9-]*)(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[A-Za-z0-9._~-]*)*(\\?[A-Za-z0-9._~=&-]*)?$"
    )]
    to: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyInput {
    /// LiveKit's API key (`webhook.api_key`): the token's `iss`. One source per key.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\s\\x00-\\x1f\\x7f-\\x9f]+$"
    )]
    api_key: String,
    /// Its secret; stored, never shown again.
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = "^[^\\s\\x00-\\x1f\\x7f-\\x9f]+$"
    )]
    api_secret: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RewriteView {
    /// A storage URL prefix, e.g. `https://bucket.s3.amazonaws.com/`.
    from: String,
    /// The public base URL that replaces it, e.g. `https://cdn.example.com/`.
    to: String,
}

/// A source, without its secrets.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceView {
    id: String,
    kind: String,
    /// The API keys; their secrets are never shown.
    api_keys: Vec<String>,
    hls_rewrite: Option<RewriteView>,
    #[schema(format = DateTime)]
    created_at: String,
    /// Where this source's server posts: `webhook.urls` in `livekit.yaml`.
    webhook_path: String,
}

impl From<Source> for SourceView {
    fn from(s: Source) -> Self {
        SourceView {
            webhook_path: format!("/v1/sources/{}/livekit", s.id),
            id: s.id,
            kind: s.kind.as_str().to_owned(),
            api_keys: s.keys.into_iter().map(|k| k.api_key).collect(),
            hls_rewrite: s.hls_rewrite.map(|r| RewriteView {
                from: r.from,
                to: r.to,
            }),
            created_at: s.created_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SourceList {
    data: Vec<SourceView>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_source", message)
}

fn check_text(field: &str, value: &str, max: usize) -> ApiResult<()> {
    let len = value.chars().count();
    if len == 0 || len > max || value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(format!(
            "{field} must be 1-{max} characters without spaces or control characters"
        )));
    }
    Ok(())
}

fn validate(input: SourceInput, project_id: &str) -> ApiResult<Source> {
    let kind = SourceKind::parse(&input.kind)
        .ok_or_else(|| invalid(format!("unknown kind {:?}; kinds: livekit", input.kind)))?;
    if input.keys.is_empty() || input.keys.len() > MAX_KEYS {
        return Err(invalid(format!("keys must hold 1-{MAX_KEYS} key pairs")));
    }
    let mut keys: Vec<SourceKey> = Vec::with_capacity(input.keys.len());
    for (index, key) in input.keys.into_iter().enumerate() {
        check_text(&format!("keys[{index}].apiKey"), &key.api_key, MAX_KEY_LEN)?;
        check_text(
            &format!("keys[{index}].apiSecret"),
            &key.api_secret,
            MAX_SECRET_LEN,
        )?;
        if keys.iter().any(|k| k.api_key == key.api_key) {
            // One source per key, and one entry per key within it: the same conflict.
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("keys[{index}].apiKey is given twice"),
            ));
        }
        keys.push(SourceKey {
            api_key: key.api_key,
            api_secret: key.api_secret,
        });
    }
    let hls_rewrite = match input.hls_rewrite {
        None => None,
        // In the grammar the document states, like every URL the API takes.
        Some(r)
            if [&r.from, &r.to].iter().all(|url| {
                is_http_url(url) && url.len() <= 2048 && crate::api::target_url::matches(url)
            }) =>
        {
            Some(HlsRewrite {
                from: r.from,
                to: r.to,
            })
        }
        Some(_) => {
            return Err(invalid(format!(
                "hlsRewrite.from and .to {}",
                crate::api::target_url::REFUSED
            )))
        }
    };
    Ok(Source {
        id: random_hex_id("src_", 12),
        project_id: project_id.to_owned(),
        kind,
        keys,
        hls_rewrite,
        created_at: Timestamp::now(),
    })
}

/// Registers a media server as a source
///
/// LiveKit signs its webhooks with one of its API key pairs; give every pair its
/// `webhook.api_key` may use. A key belongs to one source only: a key another source holds
/// (in any project) is a 409. The secrets are stored and never shown again.
#[utoipa::path(post, path = "/v1/sources", operation_id = "createSource", tag = "sources",
    request_body = SourceInput,
    responses(
        (status = 201, description = "Source created", body = SourceView),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 409, description = "An API key belongs to another source, or is given twice", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Caller(project): Caller,
    JsonBody(input): JsonBody<SourceInput>,
) -> ApiResult<(StatusCode, Json<SourceView>)> {
    let source = validate(input, &project.id)?;
    let source = state.store.create_source(source).await?;
    Ok((StatusCode::CREATED, Json(source.into())))
}

/// Lists sources
///
/// The project's sources, oldest first, with their API keys but never their secrets.
#[utoipa::path(get, path = "/v1/sources", operation_id = "listSources", tag = "sources",
    responses(
        (status = 200, description = "The project's sources, oldest first", body = SourceList),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(project): Caller,
) -> ApiResult<Json<SourceList>> {
    let sources = state.store.sources(&project.id).await?;
    Ok(Json(SourceList {
        data: sources.into_iter().map(SourceView::from).collect(),
    }))
}

/// Reads a source
///
/// One source with its API keys, never its secrets, and the path its server posts to.
#[utoipa::path(get, path = "/v1/sources/{id}", operation_id = "getSource", tag = "sources",
    params(("id" = String, Path, description = "Source id")),
    responses(
        (status = 200, description = "The source, without secrets", body = SourceView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such source", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Caller(project): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SourceView>> {
    let source = state.store.source(&project.id, &id).await?;
    Ok(Json(
        source.ok_or_else(|| ApiError::not_found("source"))?.into(),
    ))
}

/// Deletes a source
///
/// Its keys are released; requests signed with them are refused (401) from then on.
#[utoipa::path(delete, path = "/v1/sources/{id}", operation_id = "deleteSource", tag = "sources",
    params(("id" = String, Path, description = "Source id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such source", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(project): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if !state.store.delete_source(&project.id, &id).await? {
        return Err(ApiError::not_found("source"));
    }
    Ok(StatusCode::NO_CONTENT)
}
