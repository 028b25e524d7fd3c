//! `POST /v1/signals`: validate a whole batch, then apply it in one durable commit.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::error::{ApiError, ApiResult};
use super::extract::{Caller, JsonBody};
use super::AppState;
use crate::domain::signal::parse_batch;
use crate::domain::timestamp::Timestamp;
use crate::store::IngestReport;

pub const MAX_BATCH: usize = 1000;

#[derive(Deserialize)]
pub struct SignalBatch {
    signals: Vec<Value>,
}

pub async fn ingest(
    State(state): State<AppState>,
    Caller(project): Caller,
    JsonBody(batch): JsonBody<SignalBatch>,
) -> ApiResult<(StatusCode, Json<IngestReport>)> {
    if batch.signals.is_empty() || batch.signals.len() > MAX_BATCH {
        return Err(ApiError::bad_request(
            "invalid_signal",
            format!(
                "signals must hold 1-{MAX_BATCH} signals, got {}",
                batch.signals.len()
            ),
        ));
    }
    let signals = parse_batch(&batch.signals, Timestamp::now())
        .map_err(|e| ApiError::bad_request("invalid_signal", e.to_string()))?;
    let report = state.store.ingest(&project.id, signals).await?;
    state.timers.notify_one();
    if report.messages > 0 {
        state.dispatcher.wake();
    }
    Ok((StatusCode::ACCEPTED, Json(report)))
}
