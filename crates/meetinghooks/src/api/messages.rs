//! `/v1/messages`: delivery state per (event, endpoint), attempt logs and manual resend.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult};
use super::extract::{page_limit, parse_cursor, Caller, QueryParams};
use super::AppState;
use crate::domain::timestamp::Timestamp;
use crate::store::{AttemptRecord, MessageQuery, MessageRecord, MessageStatus};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    id: String,
    endpoint_id: String,
    event_id: String,
    meeting_id: String,
    sequence: u64,
    webhook_type: String,
    status: MessageStatus,
    attempts: u32,
    next_attempt_at: Option<String>,
    last_attempt_at: Option<String>,
    last_status_code: Option<u16>,
    last_error: Option<String>,
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
            status: m.status,
            attempts: m.attempts,
            last_attempt_at: m.last_attempt_at.map(Timestamp::to_rfc3339),
            last_status_code: m.last_status_code,
            last_error: m.last_error,
            created_at: m.created_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize)]
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageView<T> {
    data: Vec<T>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    endpoint_id: Option<String>,
    meeting_id: Option<String>,
    status: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

pub async fn list(
    State(state): State<AppState>,
    Caller(project): Caller,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Json<PageView<MessageView>>> {
    let status = query
        .status
        .map(|s| {
            MessageStatus::parse(&s).ok_or_else(|| {
                ApiError::bad_request("invalid_query", format!("unknown status {s:?}"))
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
                after: parse_cursor(query.after.as_deref())?,
                limit: page_limit(query.limit)?,
            },
        )
        .await?;
    Ok(Json(PageView {
        data: page.items.into_iter().map(MessageView::from).collect(),
        next_cursor: page.next_cursor.map(|c| c.to_string()),
    }))
}

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

#[derive(Deserialize)]
pub struct AttemptQuery {
    after: Option<String>,
    limit: Option<usize>,
}

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
            parse_cursor(query.after.as_deref())?,
            page_limit(query.limit)?,
        )
        .await?;
    Ok(Json(PageView {
        data: page.items.into_iter().map(AttemptView::from).collect(),
        next_cursor: page.next_cursor.map(|c| c.to_string()),
    }))
}

/// A new attempt now, with the same `webhook-id`; answers with that attempt.
pub async fn resend(
    State(state): State<AppState>,
    Caller(project): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<AttemptView>> {
    let attempt = state.dispatcher.resend(&project.id, &id).await?;
    Ok(Json(attempt.into()))
}
