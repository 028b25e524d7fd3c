//! `POST /v2/rooms`, `GET /v2/rooms`, `GET /v2/rooms/{roomId}` and `POST /v2/rooms/deactivate`,
//! in VideoSDK's shapes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::endpoints::{check_target_url, redact_url, WholeNumber};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Caller, JsonBody, QueryParams};
use super::numbered::{NumberedView, PageQuery};
use super::AppState;
use crate::delivery::ssrf::SsrfPolicy;
use crate::domain::ids::{generate_room_id, is_valid_meeting_id};
use crate::domain::signal::{is_http_url, MAX_URL_LEN};
use crate::domain::subscription::Subscription;
use crate::domain::timestamp::Timestamp;
use crate::store::{AutoClose, AutoCloseKind, Room, RoomSettings, RoomWebhook};

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateRoom {
    /// 1-128 characters from `[A-Za-z0-9._-]`; generated when absent.
    #[schema(max_length = 128, pattern = "^[A-Za-z0-9._-]+$")]
    custom_room_id: Option<String>,
    webhook: Option<WebhookInput>,
    auto_close_config: Option<AutoCloseInput>,
}

/// When a room's sessions end by themselves.
#[derive(Deserialize, ToSchema)]
pub struct AutoCloseInput {
    #[serde(rename = "type")]
    kind: AutoCloseType,
    /// Minutes a session may run, 1-10080; default 480. (`480.0` is the same integer.)
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 10080)]
    duration: Option<WholeNumber<u32>>,
}

/// `session-ends`: the session ends; `session-end-and-deactivate`: the room is deactivated too.
#[derive(Deserialize, Serialize, ToSchema, Clone, Copy)]
pub enum AutoCloseType {
    #[serde(rename = "session-ends")]
    SessionEnds,
    #[serde(rename = "session-end-and-deactivate")]
    SessionEndAndDeactivate,
}

impl AutoCloseInput {
    fn validate(self) -> ApiResult<AutoClose> {
        let duration = self.duration.map_or(480, |d| d.0);
        if !(1..=10_080).contains(&duration) {
            return Err(ApiError::bad_request(
                "invalid_request",
                "autoCloseConfig.duration must be 1-10080 minutes",
            ));
        }
        let kind = match self.kind {
            AutoCloseType::SessionEnds => AutoCloseKind::SessionEnds,
            AutoCloseType::SessionEndAndDeactivate => AutoCloseKind::SessionEndAndDeactivate,
        };
        Ok(AutoClose { kind, duration })
    }
}

#[derive(Serialize, ToSchema)]
pub struct AutoCloseView {
    #[serde(rename = "type")]
    kind: AutoCloseType,
    /// Minutes.
    duration: u32,
}

impl From<AutoClose> for AutoCloseView {
    fn from(a: AutoClose) -> Self {
        let kind = match a.kind {
            AutoCloseKind::SessionEnds => AutoCloseType::SessionEnds,
            AutoCloseKind::SessionEndAndDeactivate => AutoCloseType::SessionEndAndDeactivate,
        };
        AutoCloseView {
            kind,
            duration: a.duration,
        }
    }
}

/// Where to read the room and its sessions: paths on this server, relative to its base URL.
#[derive(Serialize, ToSchema)]
pub struct RoomLinks {
    get_room: String,
    get_session: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookInput {
    /// Absolute http(s) URL. A literal address the SSRF guard blocks is a 422.
    #[schema(
        min_length = 1,
        max_length = 2048,
        // The grammar of `api::target_url` (a literal: utoipa takes no constant here).
        pattern = "^https?://([A-Za-z0-9._~-]+(:[A-Za-z0-9._~-]*)?@)?(((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])|((?![Xx][Nn]--)[A-Za-z0-9-]+\\.)*(?![Xx][Nn]--)[A-Za-z][A-Za-z0-9-]*)(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[A-Za-z0-9._~-]*)*(\\?[A-Za-z0-9._~=&-]*)?$"
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
    /// Its user name and password, if any, read as `…@` (write-only).
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
    /// Deactivated rooms refuse joins.
    disabled: bool,
    created_at: String,
    updated_at: String,
    /// The room's id again: VideoSDK clients read both.
    id: String,
    links: RoomLinks,
    webhook: Option<RoomWebhookView>,
    auto_close_config: Option<AutoCloseView>,
}

impl From<Room> for RoomView {
    fn from(room: Room) -> Self {
        RoomView {
            links: RoomLinks {
                get_room: format!("/v2/rooms/{}", room.room_id),
                get_session: format!("/v2/sessions?roomId={}", room.room_id),
            },
            id: room.room_id.clone(),
            room_id: room.room_id,
            custom_room_id: room.custom_room_id,
            disabled: room.disabled,
            created_at: room.created_at.to_rfc3339(),
            updated_at: room.updated_at.to_rfc3339(),
            webhook: room.webhook.map(RoomWebhookView::from),
            auto_close_config: room.auto_close.map(AutoCloseView::from),
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
    let auto_close = input
        .auto_close_config
        .map(AutoCloseInput::validate)
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
        .upsert_room(
            &project.id,
            &room_id,
            custom,
            RoomSettings {
                webhook,
                auto_close,
            },
        )
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

/// Lists rooms
///
/// Rooms newest first, VideoSDK's way: `page` and `perPage` in, `pageInfo` out. Rooms that
/// signals created are listed too.
#[utoipa::path(get, path = "/v2/rooms", operation_id = "listRooms", tag = "rooms",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of rooms", body = NumberedView<RoomView>),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(project): Caller,
    QueryParams(query): QueryParams<PageQuery>,
) -> ApiResult<Json<NumberedView<RoomView>>> {
    let request = query.request()?;
    let page = state.store.room_page(&project.id, request).await?;
    Ok(Json(NumberedView::of(page, request, RoomView::from)))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeactivateRoom {
    room_id: String,
}

/// Deactivates a room
///
/// From now on the room refuses `participant.joined` signals (409 `room_deactivated`), so no
/// session starts in it; signals that end an ongoing session still apply. Deactivating twice is
/// harmless.
#[utoipa::path(post, path = "/v2/rooms/deactivate", operation_id = "deactivateRoom", tag = "rooms",
    request_body = DeactivateRoom,
    responses(
        (status = 200, description = "The deactivated room", body = RoomView),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
        (status = 413, description = "Body over the route's limit (body_limit)", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn deactivate(
    State(state): State<AppState>,
    Caller(project): Caller,
    JsonBody(request): JsonBody<DeactivateRoom>,
) -> ApiResult<Json<RoomView>> {
    let room = state
        .store
        .deactivate_room(&project.id, &request.room_id, Timestamp::now())
        .await?;
    Ok(Json(room.into()))
}
