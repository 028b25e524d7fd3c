//! `POST /v1/sources/livekit` and `/v1/sources/{id}/livekit`: a LiveKit server's webhooks.
//! LiveKit's JWT is the only credential; the answer is 200 only once what the event means is
//! durably committed (LiveKit drops what it cannot deliver within seconds).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::AppState;
use crate::domain::timestamp::Timestamp;
use crate::engine::{Conflict, SessionEnd};
use crate::sources::livekit::{self, verify, Mapped, ReceiveError, VerifyError};
use crate::sources::Source;
use crate::store::{IngestReport, StoreError};

/// What one LiveKit event did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveKitReceipt {
    /// LiveKit's event name.
    event: String,
    outcome: Outcome,
    /// Catalog events emitted; not counted for `room_finished` (null).
    events: Option<usize>,
    /// Webhook messages queued for them; not counted for `room_finished` (null).
    messages: Option<usize>,
    /// Why nothing was applied, for `ignored`.
    reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Applied to the meeting (it may have emitted nothing, e.g. a rejoin within the grace).
    Applied,
    /// This event id was applied before.
    Duplicate,
    /// Older than what was already applied for its participant or media.
    Stale,
    /// Nothing in the catalog stands for it (yet), or no session is ongoing for it.
    Ignored,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
            Outcome::Ignored => "ignored",
        }
    }
}

/// Receives a LiveKit webhook, finding the source by the token's issuer
///
/// Point `webhook.urls` in `livekit.yaml` here. The `Authorization` header holds LiveKit's JWT
/// (HS256, `iss` = a registered API key, `sha256` = the body's digest); no API key of ours.
/// 200 for applied, duplicate, stale and ignored events; 401 for a bad token; 400 for a body
/// that is not a LiveKit event; 503 while the store is down, so LiveKit retries.
#[utoipa::path(post, path = "/v1/sources/livekit", operation_id = "receiveLiveKit", tag = "sources",
    request_body(content = Object, content_type = "application/webhook+json", description = "LiveKit's WebhookEvent as protojson"),
    params(("Authorization" = String, Header, description = "LiveKit's JWT, optionally after `Bearer `")),
    responses(
        (status = 200, description = "Durably applied, a duplicate, stale or ignored", body = LiveKitReceipt),
        (status = 400, description = "Not a LiveKit event", body = ErrorBody),
        (status = 401, description = "Missing, invalid or unknown token", body = ErrorBody),
        (status = 413, description = "Body over `signals_body_limit` (1 MiB by default)", body = ErrorBody),
        (status = 503, description = "Store unavailable; LiveKit retries", body = ErrorBody),
    ))]
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<LiveKitReceipt>> {
    let body = body_of(&state, body)?;
    let authorization = authorization(&headers);
    let source = source_of(&state, authorization).await?;
    handle(&state, &source, authorization, &body).await
}

/// Receives a LiveKit webhook for one source
///
/// Like `POST /v1/sources/livekit`, but only this source's keys are accepted: a token signed
/// with another source's key is a 401.
#[utoipa::path(post, path = "/v1/sources/{id}/livekit", operation_id = "receiveLiveKitForSource", tag = "sources",
    request_body(content = Object, content_type = "application/webhook+json", description = "LiveKit's WebhookEvent as protojson"),
    params(
        ("id" = String, Path, description = "Source id"),
        ("Authorization" = String, Header, description = "LiveKit's JWT, optionally after `Bearer `"),
    ),
    responses(
        (status = 200, description = "Durably applied, a duplicate, stale or ignored", body = LiveKitReceipt),
        (status = 400, description = "Not a LiveKit event", body = ErrorBody),
        (status = 401, description = "Missing, invalid or unknown token, or another source's", body = ErrorBody),
        (status = 413, description = "Body over `signals_body_limit` (1 MiB by default)", body = ErrorBody),
        (status = 503, description = "Store unavailable; LiveKit retries", body = ErrorBody),
    ))]
pub async fn receive_for_source(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<LiveKitReceipt>> {
    let body = body_of(&state, body)?;
    let authorization = authorization(&headers);
    let source = source_of(&state, authorization).await?;
    if source.id != id {
        // Named by the token's own issuer: nothing of the other source is told.
        let issuer = verify::token_of(authorization).and_then(verify::issuer);
        return Err(unauthorized(&VerifyError::UnknownIssuer(format!(
            "{} (not a key of source {id})",
            issuer.unwrap_or_default()
        ))));
    }
    handle(&state, &source, authorization, &body).await
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// The body, or the error for one over the routes' limit (`signals_body_limit`, as for
/// `POST /v1/signals`) or cut short.
fn body_of(state: &AppState, body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(|rejection| body_error(rejection, state.limits.signals_body_bytes))
}

fn body_error(rejection: BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {limit} bytes (signals_body_limit)"),
        )
    } else {
        ApiError::bad_request("invalid_body", rejection.body_text())
    }
}

fn unauthorized(e: &VerifyError) -> ApiError {
    metrics::counter!("meetinghooks_livekit_refused_total").increment(1);
    ApiError::unauthorized(e.to_string())
}

/// The source whose key signed the token; the token itself is verified afterwards.
async fn source_of(state: &AppState, authorization: Option<&str>) -> ApiResult<Source> {
    let token = verify::token_of(authorization).map_err(|e| unauthorized(&e))?;
    let issuer = verify::issuer(token).map_err(|e| unauthorized(&e))?;
    state
        .store
        .source_by_api_key(&issuer)
        .await?
        .ok_or_else(|| unauthorized(&VerifyError::UnknownIssuer(issuer)))
}

async fn handle(
    state: &AppState,
    source: &Source,
    authorization: Option<&str>,
    body: &[u8],
) -> ApiResult<Json<LiveKitReceipt>> {
    let received =
        livekit::receive(authorization, body, source, Timestamp::now()).map_err(|e| match e {
            ReceiveError::Auth(e) => unauthorized(&e),
            ReceiveError::Body(message) => ApiError::bad_request("invalid_event", message),
        })?;
    let unknown_fields = received.event.unknown_fields();
    if unknown_fields > 0 {
        metrics::counter!("meetinghooks_livekit_unknown_fields_total")
            .increment(unknown_fields as u64);
    }
    let mut receipt = LiveKitReceipt {
        event: received.event.event.clone(),
        outcome: Outcome::Applied,
        events: Some(0),
        messages: Some(0),
        reason: None,
    };
    let project = &source.project_id;
    match received.mapped {
        Mapped::Signals(signals) => match state.store.ingest(project, signals).await {
            Ok(report) => {
                receipt.events = Some(report.events);
                receipt.messages = Some(report.messages);
                receipt.outcome = outcome_of(&report);
            }
            // Media outside a session: the catalog starts sessions with participants only.
            Err(StoreError::Conflict { conflict, .. }) => {
                receipt.outcome = Outcome::Ignored;
                receipt.reason = Some(conflict.to_string());
            }
            // A deactivated room refuses joins; LiveKit would only retry a refusal.
            Err(e @ StoreError::RoomDeactivated { .. }) => {
                receipt.outcome = Outcome::Ignored;
                receipt.reason = Some(e.to_string());
            }
            Err(e) => return Err(e.into()),
        },
        Mapped::EndSession { meeting_id, at } => {
            let end = SessionEnd::room_finished(at, Timestamp::now());
            match state.store.end_session(project, &meeting_id, end).await {
                Ok(_) => (receipt.events, receipt.messages) = (None, None),
                // Dated before the ongoing session began: a late retry of an earlier life.
                Err(StoreError::NoOngoingSession(c @ Conflict::EndedBeforeSession { .. })) => {
                    receipt.outcome = Outcome::Stale;
                    receipt.reason = Some(c.to_string());
                }
                Err(StoreError::NoOngoingSession(c)) => {
                    receipt.outcome = Outcome::Ignored;
                    receipt.reason = Some(c.to_string());
                }
                Err(StoreError::NotFound(what)) => {
                    receipt.outcome = Outcome::Ignored;
                    receipt.reason = Some(format!("{what} {meeting_id} not found"));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Mapped::Ignored(why) => {
            receipt.outcome = Outcome::Ignored;
            receipt.reason = Some(why.reason());
        }
    }
    metrics::counter!("meetinghooks_livekit_events_total",
        "outcome" => receipt.outcome.as_str())
    .increment(1);
    Ok(Json(receipt))
}

/// What an ingest of one event's signals did. The engine counts a stale signal as accepted
/// (it passed deduplication) and as stale: the event is stale when all it accepted was.
fn outcome_of(report: &IngestReport) -> Outcome {
    if report.accepted > report.stale {
        Outcome::Applied
    } else if report.accepted == 0 && report.duplicates > 0 {
        Outcome::Duplicate
    } else {
        Outcome::Stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(accepted: usize, duplicates: usize, stale: usize) -> IngestReport {
        IngestReport {
            accepted,
            duplicates,
            stale,
            ..IngestReport::default()
        }
    }

    #[test]
    fn an_event_is_stale_only_when_all_it_accepted_was() {
        assert!(matches!(outcome_of(&report(1, 0, 0)), Outcome::Applied));
        assert!(matches!(outcome_of(&report(2, 0, 1)), Outcome::Applied));
        assert!(matches!(outcome_of(&report(1, 0, 1)), Outcome::Stale));
        assert!(matches!(outcome_of(&report(2, 0, 2)), Outcome::Stale));
        assert!(matches!(outcome_of(&report(0, 1, 0)), Outcome::Duplicate));
    }
}
