//! `POST /v2/rooms` and `GET /v2/rooms/{roomId}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::endpoints::{check_target_url, redact_url};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Caller, JsonBody};
use super::AppState;
use crate::delivery::ssrf::SsrfPolicy;
use crate::domain::ids::{generate_room_id, is_valid_meeting_id};
use crate::domain::signal::{is_http_url, MAX_URL_LEN};
use crate::domain::subscription::Subscription;
use crate::store::{Room, RoomWebhook};

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateRoom {
    /// 1-128 characters from `[A-Za-z0-9._-]`; generated when absent.
    #[schema(max_length = 128, pattern = "^[A-Za-z0-9._-]+$")]
    custom_room_id: Option<String>,
    webhook: Option<WebhookInput>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookInput {
    /// Absolute http(s) URL. A literal address the SSRF guard blocks is a 422.
    #[schema(
        min_length = 1,
        max_length = 2048,
        pattern = "^https?://((?![Xx][Nn]--)[A-Za-z0-9-]+\\.)*(?![Xx][Nn]--)[A-Za-z][A-Za-z0-9-]*(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~-]*)*$"
    )]
    end_point: String,
    /// Webhook types or patterns, e.g. `participant-joined` or `*`.
    #[schema(value_type = Vec<super::endpoints::EventPattern>, min_items = 1)]
    events: Vec<String>,
}

/// A room's own webhook.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomWebhookView {
    /// Without its password, if it has one (write-only).
    end_point: String,
    events: Vec<String>,
}

impl From<RoomWebhook> for RoomWebhookView {
    fn from(w: RoomWebhook) -> Self {
        RoomWebhookView {
            end_point: redact_url(&w.end_point),
            events: w.events.patterns().to_vec(),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomView {
    room_id: String,
    custom_room_id: Option<String>,
    webhook: Option<RoomWebhookView>,
    created_at: String,
}

impl From<Room> for RoomView {
    fn from(room: Room) -> Self {
        RoomView {
            room_id: room.room_id,
            custom_room_id: room.custom_room_id,
            webhook: room.webhook.map(RoomWebhookView::from),
            created_at: room.created_at.to_rfc3339(),
        }
    }
}

/// Creates a room
///
/// Creates a room (201) with a generated id, or with `customRoomId`; if that room exists, its
/// `webhook` setting is replaced instead (200). A room's `webhook` gets that room's events, signed
/// with the room-webhook secret.
#[utoipa::path(post, path = "/v2/rooms", operation_id = "createRoom", tag = "rooms",
    request_body = CreateRoom,
    responses(
        (status = 201, description = "Room created", body = RoomView),
        (status = 200, description = "Existing room's webhook updated", body = RoomView),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 413, description = "Body over the route's limit (body_limit)", body = ErrorBody),
        (status = 422, description = "webhook.endPoint points at a blocked address", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Caller(project): Caller,
    JsonBody(input): JsonBody<CreateRoom>,
) -> ApiResult<(StatusCode, Json<RoomView>)> {
    let webhook = input
        .webhook
        .map(|w| validate_webhook(w, state.dispatcher.policy()))
        .transpose()?;
    let (room_id, custom) = match input.custom_room_id {
        Some(id) if is_valid_meeting_id(&id) => (id, true),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "customRoomId must be 1-128 characters from [A-Za-z0-9._-]",
            ))
        }
        None => (generate_room_id(), false),
    };
    let (room, created) = state
        .store
        .upsert_room(&project.id, &room_id, custom, webhook)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(room.into())))
}

/// The same URL rules as `POST /v1/endpoints`, SSRF check included.
fn validate_webhook(input: WebhookInput, policy: &SsrfPolicy) -> ApiResult<RoomWebhook> {
    if input.end_point.len() > MAX_URL_LEN || !is_http_url(&input.end_point) {
        return Err(ApiError::bad_request(
            "invalid_request",
            "webhook.endPoint must be an absolute http(s) URL of at most 2048 characters",
        ));
    }
    check_target_url("webhook.endPoint", &input.end_point, policy)?;
    let events = Subscription::parse(input.events)
        .map_err(|e| ApiError::bad_request("invalid_request", format!("webhook.{e}")))?;
    Ok(RoomWebhook {
        end_point: input.end_point,
        events,
    })
}

/// Reads a room
///
/// The room and its own webhook setting. The room id is the `meetingId` of its signals.
#[utoipa::path(get, path = "/v2/rooms/{room_id}", operation_id = "getRoom", tag = "rooms",
    params(("room_id" = String, Path, description = "Room id")),
    responses(
        (status = 200, description = "The room", body = RoomView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Caller(project): Caller,
    Path(room_id): Path<String>,
) -> ApiResult<Json<RoomView>> {
    let room = state
        .store
        .room(&project.id, &room_id)
        .await?
        .ok_or_else(|| ApiError::not_found("room"))?;
    Ok(Json(room.into()))
}
