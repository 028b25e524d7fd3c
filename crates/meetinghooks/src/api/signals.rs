//! `POST /v1/signals`: validate a whole batch, then apply it in one durable commit.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Caller, JsonBody};
use super::signals_doc::Signal;
use super::AppState;
use crate::domain::signal::{parse_batch_within, SignalWindow};
use crate::domain::timestamp::Timestamp;
use crate::store::IngestReport;

pub const MAX_BATCH: usize = 1000;

#[derive(Deserialize, ToSchema)]
pub struct SignalBatch {
    /// 1-1000 signals, validated as a whole before any is applied.
    #[schema(value_type = Vec<Signal>, min_items = 1, max_items = 1000)]
    signals: Vec<Value>,
}

impl SignalBatch {
    #[cfg(test)]
    pub(super) fn signals(&self) -> &[Value] {
        &self.signals
    }
}

/// What one batch did.
#[derive(Serialize, ToSchema)]
pub struct IngestReportView {
    accepted: usize,
    duplicates: usize,
    stale: usize,
    events: usize,
    /// Messages created for endpoints by those events.
    messages: usize,
}

impl From<IngestReport> for IngestReportView {
    fn from(r: IngestReport) -> Self {
        let IngestReport {
            accepted,
            duplicates,
            stale,
            events,
            messages,
        } = r;
        IngestReportView {
            accepted,
            duplicates,
            stale,
            events,
            messages,
        }
    }
}

/// Ingests a batch of meeting signals
///
/// The whole batch (1-1000 signals) is validated first, then applied in one durable commit: 202
/// comes after that commit, with the events and webhook messages already stored. A signal `id`
/// the project has already applied is a no-op counted in `duplicates`, so a batch may be sent
/// again safely; a signal older than the last one applied for the same participant or media is
/// counted in `stale`. A 400 (a bad signal, named by its index) or a 409 (a signal the meeting's
/// state refuses, e.g. a recording without an ongoing session) applies nothing of the batch.
#[utoipa::path(post, path = "/v1/signals", operation_id = "ingestSignals", tag = "signals",
    request_body = SignalBatch,
    responses(
        (status = 202, description = "Applied in one commit", body = IngestReportView),
        (status = 400, description = "Invalid body or signal", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 409, description = "A signal conflicts with the meeting's state", body = ErrorBody),
        (status = 413, description = "Body over signals_body_limit (1 MiB)", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn ingest(
    State(state): State<AppState>,
    Caller(project): Caller,
    JsonBody(batch): JsonBody<SignalBatch>,
) -> ApiResult<(StatusCode, Json<IngestReportView>)> {
    if batch.signals.is_empty() || batch.signals.len() > MAX_BATCH {
        return Err(ApiError::bad_request(
            "invalid_signal",
            format!(
                "signals must hold 1-{MAX_BATCH} signals, got {}",
                batch.signals.len()
            ),
        ));
    }
    let millis = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let window = SignalWindow {
        max_age_ms: millis(state.limits.signal_max_age),
        max_ahead_ms: millis(state.limits.signal_max_ahead),
    };
    let signals = parse_batch_within(&batch.signals, Timestamp::now(), window)
        .map_err(|e| ApiError::bad_request("invalid_signal", e.to_string()))?;
    // The store announces the new messages and armed timers itself.
    let report = state.store.ingest(&project.id, signals).await?;
    Ok((StatusCode::ACCEPTED, Json(report.into())))
}
