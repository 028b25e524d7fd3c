//! `GET /v2/sessions`, `GET /v2/sessions/{sessionId}` and `POST /v2/sessions/end`.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{page_limit, parse_cursor, Caller, JsonBody, PageView, QueryParams};
use super::AppState;
use crate::domain::timestamp::Timestamp;
use crate::store::SessionRecord;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    id: String,
    room_id: String,
    status: SessionStatus,
    start: String,
    end: Option<String>,
    participants: Vec<ParticipantView>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    Ongoing,
    Ended,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantView {
    participant_id: String,
    name: String,
    timelog: Vec<StayView>,
}

/// One stay of a participant in the session.
#[derive(Serialize, ToSchema)]
pub struct StayView {
    start: String,
    end: Option<String>,
}

impl From<SessionRecord> for SessionView {
    fn from(record: SessionRecord) -> Self {
        let s = record.session;
        SessionView {
            id: s.id,
            room_id: record.room_id,
            status: if s.end.is_some() {
                SessionStatus::Ended
            } else {
                SessionStatus::Ongoing
            },
            start: s.start.to_rfc3339(),
            end: s.end.map(Timestamp::to_rfc3339),
            participants: record
                .participants
                .into_iter()
                .map(|p| ParticipantView {
                    participant_id: p.id,
                    name: p.name,
                    timelog: p
                        .timelog
                        .into_iter()
                        .map(|stay| StayView {
                            start: stay.start.to_rfc3339(),
                            end: stay.end.map(Timestamp::to_rfc3339),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Required.
    #[param(required = true)]
    room_id: Option<String>,
    /// `nextCursor` of the previous page: digits, never empty.
    #[param(pattern = r"^[0-9a-f]{32}$")]
    cursor: Option<String>,
    /// 1-500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

/// Lists a room's sessions
///
/// Sessions of the room `roomId` (required), newest first, each with its participants and their
/// timelogs. Page with `cursor` set to the previous page's `nextCursor`.
#[utoipa::path(get, path = "/v2/sessions", operation_id = "listSessions", tag = "sessions",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of sessions, newest first", body = PageView<SessionView>),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(project): Caller,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Json<PageView<SessionView>>> {
    let room_id = query
        .room_id
        .ok_or_else(|| ApiError::bad_request("invalid_query", "roomId is required"))?;
    let limit = page_limit(query.limit)?;
    let before = parse_cursor(state.store.public_ids(), query.cursor.as_deref())?;
    let page = state
        .store
        .sessions(&project.id, &room_id, before, limit)
        .await?;
    Ok(Json(PageView::of(
        page,
        state.store.public_ids(),
        SessionView::from,
    )))
}

/// Reads a session
///
/// One session with its status, participants and each participant's timelog.
#[utoipa::path(get, path = "/v2/sessions/{session_id}", operation_id = "getSession", tag = "sessions",
    params(("session_id" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "The session", body = SessionView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such session", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Caller(project): Caller,
    Path(session_id): Path<String>,
) -> ApiResult<Json<SessionView>> {
    let record = state
        .store
        .session(&project.id, &session_id)
        .await?
        .ok_or_else(|| ApiError::not_found("session"))?;
    Ok(Json(record.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndRequest {
    room_id: String,
}

/// Ends a room's ongoing session
///
/// Removes everyone (each gets a `participant-left`), stops active media, then ends the session;
/// the webhooks go out as usual. 409 means the room has no ongoing session.
#[utoipa::path(post, path = "/v2/sessions/end", operation_id = "endSession", tag = "sessions",
    request_body = EndRequest,
    responses(
        (status = 200, description = "The ended session", body = SessionView),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such room", body = ErrorBody),
        (status = 409, description = "The room has no ongoing session", body = ErrorBody),
        (status = 413, description = "Body over the route's limit (body_limit)", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn end(
    State(state): State<AppState>,
    Caller(project): Caller,
    JsonBody(request): JsonBody<EndRequest>,
) -> ApiResult<Json<SessionView>> {
    let record = state
        .store
        .end_session(&project.id, &request.room_id, Timestamp::now())
        .await?;
    Ok(Json(record.into()))
}
