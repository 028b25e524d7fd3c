//! `GET /v1/events`: the durable event log, filtered and cursor-paginated.

use axum::extract::State;
use axum::Json;
use meetinghooks_webhooks::WebhookType;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{page_limit, parse_cursor, Caller, PageView, QueryParams};
use super::AppState;
use crate::store::{EventQuery, StoredEvent};

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    meeting_id: Option<String>,
    session_id: Option<String>,
    /// A webhook type, e.g. `participant-joined`.
    #[serde(rename = "type")]
    #[param(value_type = Option<super::endpoints::WebhookTypeName>)]
    webhook_type: Option<String>,
    /// `nextCursor` of the previous page: digits, never empty.
    #[param(pattern = r"^[0-9a-f]{32}$")]
    after: Option<String>,
    /// 1-500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
    /// For clients that poll for new events: `nextCursor` is then never null. Without `after`,
    /// `all` starts at the beginning of the log and `new` at its current end.
    #[param(inline)]
    follow: Option<Follow>,
}

/// Where a followed listing starts when no `after` is given.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Follow {
    /// From the oldest event.
    All,
    /// From the current end of the log: only events yet to come.
    New,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    id: String,
    meeting_id: String,
    session_id: String,
    sequence: u64,
    webhook_type: String,
    /// The exact bytes webhooks carry, embedded as JSON.
    #[schema(value_type = Object)]
    payload: Box<RawValue>,
    created_at: String,
}

impl TryFrom<StoredEvent> for EventView {
    type Error = ApiError;
    fn try_from(e: StoredEvent) -> Result<Self, ApiError> {
        let payload = String::from_utf8(e.payload)
            .ok()
            .and_then(|text| RawValue::from_string(text).ok())
            .ok_or_else(|| {
                ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "corrupt_event",
                    format!("event {} has an unreadable payload", e.id),
                )
            })?;
        Ok(EventView {
            id: e.id,
            meeting_id: e.meeting_id,
            session_id: e.session_id,
            sequence: e.sequence,
            webhook_type: e.webhook_type,
            payload,
            created_at: e.created_at.to_rfc3339(),
        })
    }
}

/// Lists the event log
///
/// Events (the webhooks' contents, with the exact payload bytes) oldest first, filtered by meeting,
/// session or webhook type. Page with `after` set to the previous page's `nextCursor`; a cursor
/// never skips an event that commits later.
#[utoipa::path(get, path = "/v1/events", operation_id = "listEvents", tag = "events",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of events, oldest first", body = PageView<EventView>),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 500, description = "A stored payload is unreadable", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Caller(project): Caller,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Json<PageView<EventView>>> {
    if let Some(t) = &query.webhook_type {
        t.parse::<WebhookType>()
            .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    }
    let mut after = parse_cursor(state.store.public_ids(), query.after.as_deref())?;
    if after.is_none() && query.follow == Some(Follow::New) {
        after = Some(end_of_log(&state, &project.id).await?);
    }
    let page = state
        .store
        .events(
            &project.id,
            EventQuery {
                meeting_id: query.meeting_id,
                session_id: query.session_id,
                webhook_type: query.webhook_type,
                after,
                limit: page_limit(query.limit)?,
            },
        )
        .await?;
    let next_cursor = match query.follow {
        None => page.next_cursor,
        // Past the last event listed, else where this page started.
        Some(_) => Some(page.items.last().map(|e| e.position).or(after).unwrap_or(0)),
    }
    .map(|c| state.store.public_ids().cursor(c));
    let data = page
        .items
        .into_iter()
        .map(EventView::try_from)
        .collect::<Result<_, _>>()?;
    Ok(Json(PageView { data, next_cursor }))
}

/// The position of the project's newest listed event (0 for none): where `follow=new` starts.
/// The store lists forwards only, so this searches: doubling, then bisecting, each probe one
/// indexed seek of one row, about 2·log2(position) probes in all.
async fn end_of_log(state: &AppState, project_id: &str) -> ApiResult<i64> {
    let first_after = |after: i64| async move {
        let page = state
            .store
            .events(
                project_id,
                EventQuery {
                    after: Some(after),
                    limit: 1,
                    ..EventQuery::default()
                },
            )
            .await?;
        Ok::<_, ApiError>(page.items.first().map(|e| e.position))
    };
    // Invariant: an event sits at `newest`, and none lies after `bound`.
    let Some(mut newest) = first_after(0).await? else {
        return Ok(0);
    };
    let mut bound = loop {
        let probe = newest.saturating_mul(2);
        match first_after(probe).await? {
            Some(position) => newest = position,
            None => break probe,
        }
    };
    while newest < bound {
        let middle = newest + (bound - newest) / 2;
        match first_after(middle).await? {
            Some(position) => newest = position,
            None => bound = middle,
        }
    }
    Ok(newest)
}
