//! `/v1/messages`: delivery state per (event, endpoint), attempt logs and manual resend.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{page_limit, parse_cursor, Caller, PageView, QueryParams};
use super::AppState;
use crate::domain::timestamp::Timestamp;
use crate::store::{AttemptRecord, MessageQuery, MessageRecord, MessageStatus};

/// A message's delivery state, as the API shows it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatusView {
    /// Behind an earlier message of the same (endpoint, meeting).
    Waiting,
    /// Due for an attempt at `nextAttemptAt`.
    Pending,
    /// An attempt is in flight.
    Delivering,
    Succeeded,
    /// Ended without exhausting retries, e.g. the endpoint answered 410 Gone.
    Failed,
    Exhausted,
    /// Not attempted because the endpoint is disabled.
    Skipped,
}

impl From<MessageStatus> for MessageStatusView {
    fn from(s: MessageStatus) -> Self {
        match s {
            MessageStatus::Waiting => Self::Waiting,
            MessageStatus::Pending => Self::Pending,
            MessageStatus::Delivering => Self::Delivering,
            MessageStatus::Succeeded => Self::Succeeded,
            MessageStatus::Failed => Self::Failed,
            MessageStatus::Exhausted => Self::Exhausted,
            MessageStatus::Skipped => Self::Skipped,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    id: String,
    endpoint_id: String,
    event_id: String,
    meeting_id: String,
    sequence: u64,
    webhook_type: String,
    status: MessageStatusView,
    attempts: u32,
    next_attempt_at: Option<String>,
    last_attempt_at: Option<String>,
    last_status_code: Option<u16>,
    /// Why the last attempt failed, e.g. `connect: connection refused`, `dns: …`,
    /// `timeout: no answer within 15 s` or `http 500`; `null` after a success.
    last_error: Option<String>,
    /// The kind of that failure, for programs: `http` for a non-2xx answer, otherwise the
    /// attempt log's `errorKind` (`connect`, `dns`, `timeout`, `tls`, `ssrf_blocked`,
    /// `invalid_url`, `invalid_response`).
    last_error_kind: Option<String>,
    created_at: String,
}

impl From<MessageRecord> for MessageView {
    fn from(m: MessageRecord) -> Self {
        MessageView {
            next_attempt_at: (m.status == MessageStatus::Pending).then(|| m.due_at.to_rfc3339()),
            id: m.id,
            endpoint_id: m.endpoint_id,
            event_id: m.event_id,
            meeting_id: m.meeting_id,
            sequence: m.sequence,
            webhook_type: m.webhook_type,
            status: m.status.into(),
            attempts: m.attempts,
            last_attempt_at: m.last_attempt_at.map(Timestamp::to_rfc3339),
            last_status_code: m.last_status_code,
            last_error: m.last_error,
            last_error_kind: m.last_error_kind,
            created_at: m.created_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    attempted_at: String,
    duration_ms: u64,
    status_code: Option<u16>,
    error_kind: Option<String>,
    response_body: String,
}

impl From<AttemptRecord> for AttemptView {
    fn from(a: AttemptRecord) -> Self {
        AttemptView {
            attempted_at: a.attempted_at.to_rfc3339(),
            duration_ms: a.duration_ms,
            status_code: a.status_code,
            error_kind: a.error_kind,
            response_body: a.response_body,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    endpoint_id: Option<String>,
    meeting_id: Option<String>,
    #[param(value_type = Option<MessageStatusView>)]
    status: Option<String>,
    /// `nextCursor` of the previous page: digits, never empty.
    #[param(pattern = r"^[0-9a-f]{32}$")]
    after: Option<String>,
    /// 1-500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

/// Lists messages and their delivery state
///
/// One message per (event, endpoint), filtered by endpoint, meeting or status. Page with `after`
/// set to the previous page's `nextCursor`.
#[utoipa::path(get, path = "/v1/messages", operation_id = "listMessages", tag = "messages",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of messages", body = PageView<MessageView>),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(project): Caller,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Json<PageView<MessageView>>> {
    let status = query
        .status
        .map(|s| {
            MessageStatus::parse(&s).ok_or_else(|| {
                let known: Vec<&str> = MessageStatus::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::bad_request(
                    "invalid_query",
                    format!("unknown status {s:?}; use one of {}", known.join(", ")),
                )
            })
        })
        .transpose()?;
    let page = state
        .store
        .messages(
            &project.id,
            MessageQuery {
                endpoint_id: query.endpoint_id,
                meeting_id: query.meeting_id,
                status,
                after: parse_cursor(state.store.public_ids(), query.after.as_deref())?,
                limit: page_limit(query.limit)?,
            },
        )
        .await?;
    Ok(Json(PageView::of(
        page,
        state.store.public_ids(),
        MessageView::from,
    )))
}

/// Reads a message
///
/// Its delivery state: status, attempts so far, the next attempt's time and the last answer or
/// error.
#[utoipa::path(get, path = "/v1/messages/{id}", operation_id = "getMessage", tag = "messages",
    params(("id" = String, Path, description = "Message id")),
    responses(
        (status = 200, description = "The message", body = MessageView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such message", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Caller(project): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageView>> {
    let message = state
        .store
        .message(&project.id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("message"))?;
    Ok(Json(message.into()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttemptQuery {
    /// `nextCursor` of the previous page: digits, never empty.
    #[param(pattern = r"^[0-9a-f]{32}$")]
    after: Option<String>,
    /// 1-500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

/// Lists a message's attempts
///
/// Every attempt, oldest first, with its status code or error kind, its duration and the
/// first 1 KiB of the answer.
#[utoipa::path(get, path = "/v1/messages/{id}/attempts", operation_id = "listAttempts", tag = "messages",
    params(("id" = String, Path, description = "Message id"), AttemptQuery),
    responses(
        (status = 200, description = "A page of attempts, oldest first", body = PageView<AttemptView>),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such message", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn attempts(
    State(state): State<AppState>,
    Caller(project): Caller,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<AttemptQuery>,
) -> ApiResult<Json<PageView<AttemptView>>> {
    let page = state
        .store
        .attempts(
            &project.id,
            &id,
            parse_cursor(state.store.public_ids(), query.after.as_deref())?,
            page_limit(query.limit)?,
        )
        .await?;
    Ok(Json(PageView::of(
        page,
        state.store.public_ids(),
        AttemptView::from,
    )))
}

/// Resends a message now
///
/// Makes one attempt now, with the same `webhook-id` (so receivers can drop it if they have it),
/// and answers with that attempt. 409 means the message is being delivered or waits behind an
/// earlier message of its meeting.
#[utoipa::path(post, path = "/v1/messages/{id}/resend", operation_id = "resendMessage", tag = "messages",
    params(("id" = String, Path, description = "Message id")),
    responses(
        (status = 200, description = "The attempt just made", body = AttemptView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such message or endpoint", body = ErrorBody),
        (status = 409, description = "The message is being delivered or is waiting", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn resend(
    State(state): State<AppState>,
    Caller(project): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<AttemptView>> {
    let attempt = state.dispatcher.resend(&project.id, &id).await?;
    Ok(Json(attempt.into()))
}
