//! `/v1/endpoints`: CRUD, secret rotation, test sends and recovery; and the room-webhook secret.
//!
//! A room's own webhook (`POST /v2/rooms` with `webhook`) is an endpoint too, listed and
//! readable here with `kind: "room"`. The room owns it, so here it can only be disabled,
//! re-enabled, tested and recovered; changing it is `POST /v2/rooms`, and its secret is the
//! project's room-webhook secret (`/v1/room-webhooks/secret`). PATCH of any other field,
//! DELETE and rotate answer 409 `room_webhook`, saying where to go instead.

mod input;
mod samples;
mod views;

pub(crate) use crate::api::target_url::check_target_url;
pub(crate) use input::{EventPattern, WholeNumber};
pub(crate) use views::redact_url;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use meetinghooks_webhooks::WebhookType;
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Caller, JsonBody, QueryParams};
use super::AppState;
use crate::domain::endpoint::{generate_secret, Endpoint};
use crate::domain::ids::random_hex_id;
use crate::domain::timestamp::Timestamp;
use input::{invalid, EndpointCreate, EndpointInput, EndpointListQuery};
use samples::sample_event;
use views::{
    EndpointKind, EndpointList, EndpointView, Recovered, RotatedSecret, SecretView, TestQueued,
};

/// The answer to a change a room's webhook does not take here.
fn owned_by_room(endpoint: &Endpoint, instead: &str) -> ApiError {
    let room = endpoint.room_id.as_deref().unwrap_or_default();
    ApiError::new(
        StatusCode::CONFLICT,
        "room_webhook",
        format!("{} is the webhook of room {room}; {instead}", endpoint.id),
    )
}

/// Creates a webhook endpoint
///
/// The endpoint receives every event its `events` patterns match, signed with its `whsec_`
/// secret, which this answer shows (later only `GET /v1/endpoints/{id}/secret` does). The URL
/// must be http(s); a literal address the SSRF guard blocks (loopback, private, link-local and
/// the like) gets a 422, and names are checked when they are resolved.
#[utoipa::path(post, path = "/v1/endpoints", operation_id = "createEndpoint", tag = "endpoints",
    request_body = EndpointCreate,
    responses(
        (status = 201, description = "Endpoint created; the only answer besides rotate with its secret", body = EndpointView),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 413, description = "Body over the route's limit (body_limit)", body = ErrorBody),
        (status = 422, description = "The URL points at a blocked address", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Caller(project): Caller,
    JsonBody(input): JsonBody<EndpointInput>,
) -> ApiResult<(StatusCode, Json<EndpointView>)> {
    if input.url.is_none() {
        return Err(invalid("url is required"));
    }
    let now = Timestamp::now();
    let patch = input.into_patch(state.dispatcher.policy(), now)?;
    let mut endpoint = Endpoint::new(
        random_hex_id("ep_", 12),
        project.id.clone(),
        String::new(),
        generate_secret(),
        now,
    );
    patch.apply(&mut endpoint);
    let endpoint = state.store.create_endpoint(endpoint).await?;
    Ok((
        StatusCode::CREATED,
        Json(EndpointView::with_secret(endpoint)),
    ))
}

/// Lists webhook endpoints
///
/// All endpoints of the project, rooms' own webhooks included (marked `"kind": "room"`, with
/// their `roomId`; `?kind=` filters), without their secrets.
#[utoipa::path(get, path = "/v1/endpoints", operation_id = "listEndpoints", tag = "endpoints",
    params(EndpointListQuery),
    responses(
        (status = 200, description = "The project's endpoints, rooms' own webhooks included", body = EndpointList),
        (status = 400, description = "Unknown kind", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(project): Caller,
    QueryParams(query): QueryParams<EndpointListQuery>,
) -> ApiResult<Json<EndpointList>> {
    let kind = query
        .kind
        .map(|k| {
            EndpointKind::parse(&k).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("unknown kind {k:?}; valid: {}", EndpointKind::VALUES),
                )
            })
        })
        .transpose()?;
    let endpoints = state.store.endpoints(&project.id).await?;
    let data: Vec<EndpointView> = endpoints
        .into_iter()
        .filter(|e| kind.is_none_or(|k| EndpointKind::of(e) == k))
        .map(EndpointView::of)
        .collect();
    Ok(Json(EndpointList { data }))
}

/// Any endpoint of the project, a room's webhook included.
async fn load(state: &AppState, project_id: &str, id: &str) -> ApiResult<Endpoint> {
    state
        .store
        .endpoint(project_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("endpoint"))
}

/// Reads a webhook endpoint
///
/// The endpoint's settings and state (disabled and why, last success), without its secret.
#[utoipa::path(get, path = "/v1/endpoints/{id}", operation_id = "getEndpoint", tag = "endpoints",
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The endpoint", body = EndpointView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Caller(project): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<EndpointView>> {
    Ok(Json(EndpointView::of(
        load(&state, &project.id, &id).await?,
    )))
}

/// Changes a webhook endpoint
///
/// Only the fields given change; `null` restores a default where the field says so.
/// `{"disabled":false}` re-enables an endpoint and restarts its auto-disable clock; its skipped
/// messages stay skipped until `recover`.
#[utoipa::path(patch, path = "/v1/endpoints/{id}", operation_id = "updateEndpoint", tag = "endpoints",
    params(("id" = String, Path, description = "Endpoint id")),
    request_body(content = EndpointInput, description = "Only the given fields change"),
    responses(
        (status = 200, description = "The updated endpoint", body = EndpointView),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 409, description = "A room's own webhook: change it with POST /v2/rooms", body = ErrorBody),
        (status = 413, description = "Body over the route's limit (body_limit)", body = ErrorBody),
        (status = 422, description = "The URL points at a blocked address", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Caller(project): Caller,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<EndpointInput>,
) -> ApiResult<Json<EndpointView>> {
    // Only to tell a room's webhook apart: an endpoint's room never changes.
    let endpoint = load(&state, &project.id, &id).await?;
    if endpoint.room_id.is_some() && !input.only_disabled() {
        return Err(owned_by_room(
            &endpoint,
            "change it with POST /v2/rooms; here only \"disabled\" can change",
        ));
    }
    let patch = input.into_patch(state.dispatcher.policy(), Timestamp::now())?;
    // The store applies the patch to the row as it is then, so nothing read here is written back.
    let endpoint = state.store.update_endpoint(&project.id, &id, patch).await?;
    Ok(Json(EndpointView::of(endpoint)))
}

/// Deletes a webhook endpoint
///
/// The endpoint goes, with its messages and their attempts; nothing more is delivered to it.
#[utoipa::path(delete, path = "/v1/endpoints/{id}", operation_id = "deleteEndpoint", tag = "endpoints",
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 409, description = "A room's own webhook: change it with POST /v2/rooms", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(project): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let endpoint = load(&state, &project.id, &id).await?;
    if endpoint.room_id.is_some() {
        return Err(owned_by_room(
            &endpoint,
            "it cannot be deleted: change it with POST /v2/rooms, or stop it with \
             PATCH {\"disabled\":true}",
        ));
    }
    if !state.store.delete_endpoint(&project.id, &id).await? {
        return Err(ApiError::not_found("endpoint"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Reads an endpoint's signing secret
///
/// The `whsec_` secret that signs the endpoint's deliveries now.
#[utoipa::path(get, path = "/v1/endpoints/{id}/secret", operation_id = "getEndpointSecret", tag = "endpoints",
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The current signing secret", body = SecretView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn secret(
    State(state): State<AppState>,
    Caller(project): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SecretView>> {
    let endpoint = load(&state, &project.id, &id).await?;
    Ok(Json(SecretView {
        secret: endpoint.secret,
    }))
}

/// Rotates an endpoint's signing secret
///
/// A new secret signs from now on; the old one keeps signing beside it (two signatures per request)
/// until `previousSecretValidUntil`, so receivers can switch without dropping a delivery.
#[utoipa::path(post, path = "/v1/endpoints/{id}/secret/rotate", operation_id = "rotateEndpointSecret", tag = "endpoints",
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The new secret", body = RotatedSecret),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 409, description = "A room's own webhook: change it with POST /v2/rooms", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Caller(project): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<RotatedSecret>> {
    let endpoint = load(&state, &project.id, &id).await?;
    if endpoint.room_id.is_some() {
        return Err(owned_by_room(
            &endpoint,
            "it is signed with the project's room-webhook secret: rotate that with \
             POST /v1/room-webhooks/secret/rotate",
        ));
    }
    let now = Timestamp::now();
    // One statement that writes only the secrets, so a concurrent PATCH is never undone.
    let endpoint = state
        .store
        .rotate_endpoint_secret(
            &project.id,
            &id,
            generate_secret(),
            now.plus_millis(state.secret_overlap_ms),
            now,
        )
        .await?;
    Ok(Json(RotatedSecret {
        secret: endpoint.secret,
        previous_secret_valid_until: endpoint.secret_previous_until.map(Timestamp::to_rfc3339),
    }))
}

// Doc-only: the handler parses the name with `WebhookType::from_str`.
/// One of the catalog's webhook types.
#[derive(ToSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)]
pub enum WebhookTypeName {
    ParticipantJoined,
    ParticipantLeft,
    SessionStarted,
    SessionEnded,
    RecordingStarted,
    RecordingStopped,
    LivestreamStarted,
    LivestreamStopped,
    HlsStarted,
    HlsStopped,
    RecordingStarting,
    RecordingStopping,
    RecordingFailed,
    LivestreamStarting,
    LivestreamStopping,
    LivestreamFailed,
    HlsStarting,
    HlsPlayable,
    HlsStopping,
    HlsFailed,
    ParticipantRecordingStarting,
    ParticipantRecordingStarted,
    ParticipantRecordingStopping,
    ParticipantRecordingStopped,
    ParticipantRecordingFailed,
    ParticipantTrackRecordingStarting,
    ParticipantTrackRecordingStarted,
    ParticipantTrackRecordingStopping,
    ParticipantTrackRecordingStopped,
    ParticipantTrackRecordingFailed,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestRequest {
    /// A webhook type, e.g. `participant-joined`.
    #[schema(value_type = WebhookTypeName)]
    webhook_type: String,
}

/// Sends a sample event to an endpoint
///
/// Queues a sample of the given webhook type, signed as usual, to this endpoint only; 202 answers
/// with its message id, which `GET /v1/messages/{id}` follows.
#[utoipa::path(post, path = "/v1/endpoints/{id}/test", operation_id = "sendTestEvent", tag = "endpoints",
    params(("id" = String, Path, description = "Endpoint id")),
    request_body = TestRequest,
    responses(
        (status = 202, description = "A sample event is queued", body = TestQueued),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 413, description = "Body over the route's limit (body_limit)", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn send_test(
    State(state): State<AppState>,
    Caller(project): Caller,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<TestRequest>,
) -> ApiResult<(StatusCode, Json<TestQueued>)> {
    let webhook_type: WebhookType = request
        .webhook_type
        .parse()
        .map_err(|e: meetinghooks_webhooks::UnknownWebhookType| invalid(e.to_string()))?;
    load(&state, &project.id, &id).await?;
    let payload = sample_event(webhook_type).to_json_bytes();
    let message_id = state
        .store
        .enqueue_test(&project.id, &id, webhook_type.as_str(), payload)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(TestQueued { message_id })))
}

#[derive(Deserialize, ToSchema)]
pub struct RecoverRequest {
    /// RFC 3339; messages created since then are re-queued. The pattern is the documented
    /// subset; the server also takes days 29-31 where they exist.
    #[schema(format = DateTime, pattern = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")]
    since: String,
}

/// Re-queues an endpoint's undelivered messages
///
/// The endpoint's failed, exhausted and skipped messages created since `since` are queued again, in
/// their original order, e.g. after fixing or re-enabling the endpoint.
#[utoipa::path(post, path = "/v1/endpoints/{id}/recover", operation_id = "recoverEndpoint", tag = "endpoints",
    params(("id" = String, Path, description = "Endpoint id")),
    request_body = RecoverRequest,
    responses(
        (status = 200, description = "Failed, exhausted and skipped messages re-queued", body = Recovered),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 413, description = "Body over the route's limit (body_limit)", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn recover(
    State(state): State<AppState>,
    Caller(project): Caller,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<RecoverRequest>,
) -> ApiResult<Json<Recovered>> {
    let since = Timestamp::parse_rfc3339(&request.since)
        .ok_or_else(|| invalid("since must be an RFC 3339 time"))?;
    load(&state, &project.id, &id).await?;
    let requeued = state.store.recover(&project.id, &id, since).await?;
    Ok(Json(Recovered { requeued }))
}

/// Reads the room-webhook secret
///
/// The project's one secret that signs deliveries to rooms' own webhooks.
#[utoipa::path(get, path = "/v1/room-webhooks/secret", operation_id = "getRoomWebhookSecret", tag = "endpoints",
    responses(
        (status = 200, description = "The secret signing room webhooks", body = SecretView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn room_secret(
    State(state): State<AppState>,
    Caller(project): Caller,
) -> ApiResult<Json<SecretView>> {
    let secret = state.store.room_secret(&project.id).await?;
    Ok(Json(SecretView { secret }))
}

/// Rotates the room-webhook secret
///
/// A new secret signs rooms' webhooks from now on; the old one keeps signing beside it until
/// `previousSecretValidUntil`.
#[utoipa::path(post, path = "/v1/room-webhooks/secret/rotate", operation_id = "rotateRoomWebhookSecret", tag = "endpoints",
    responses(
        (status = 200, description = "The new room-webhook secret", body = RotatedSecret),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn rotate_room_secret(
    State(state): State<AppState>,
    Caller(project): Caller,
) -> ApiResult<Json<RotatedSecret>> {
    let until = Timestamp::now().plus_millis(state.secret_overlap_ms);
    let secret = state
        .store
        .rotate_room_secret(&project.id, generate_secret(), until)
        .await?;
    Ok(Json(RotatedSecret {
        secret,
        previous_secret_valid_until: Some(until.to_rfc3339()),
    }))
}
