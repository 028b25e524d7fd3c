//! `POST /v1/signals`: validate a whole batch, then apply it in one durable commit.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Caller, JsonBody};
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

// Doc-only: `parse_batch` reads signals as JSON values; this is the same contract as a
// `oneOf` by `type`, so generated requests are the ones the parser accepts.
/// One meeting signal; its `type` decides the other fields.
#[derive(ToSchema)]
#[serde(tag = "type")]
#[allow(dead_code)]
pub enum Signal {
    #[serde(rename = "participant.joined")]
    ParticipantJoined(ParticipantJoined),
    #[serde(rename = "participant.left")]
    ParticipantLeft(ParticipantLeft),
    #[serde(rename = "recording.started")]
    RecordingStarted(Recording),
    #[serde(rename = "recording.stopped")]
    RecordingStopped(Recording),
    #[serde(rename = "livestream.started")]
    LivestreamStarted(MeetingOnly),
    #[serde(rename = "livestream.stopped")]
    LivestreamStopped(MeetingOnly),
    #[serde(rename = "hls.started")]
    HlsStarted(HlsStarted),
    #[serde(rename = "hls.stopped")]
    HlsStopped(MeetingOnly),
}

/// A signal's id: unique per meeting; a repeat in the same meeting is a no-op, counted in
/// `duplicates`. No NUL.
#[derive(ToSchema)]
#[schema(min_length = 1, max_length = 128, pattern = "^[^\\u0000]+$")]
#[allow(dead_code)]
pub struct SignalId(String);

/// 1-128 characters from `[A-Za-z0-9._-]`.
#[derive(ToSchema)]
#[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._-]+$")]
#[allow(dead_code)]
pub struct MeetingId(String);

/// 1-128 characters, no NUL.
#[derive(ToSchema)]
#[schema(min_length = 1, max_length = 128, pattern = "^[^\\u0000]+$")]
#[allow(dead_code)]
pub struct ShortText(String);

macro_rules! signal_doc {
    ($(#[$doc:meta])* $name:ident { $($(#[$field_doc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(ToSchema)]
        #[serde(rename_all = "camelCase")]
        #[allow(dead_code)]
        pub struct $name {
            id: SignalId,
            meeting_id: MeetingId,
            /// RFC 3339; defaults to the time received. At most `signal_max_age` (24 h) old and
            /// `signal_max_ahead` (5 minutes) ahead of the server's clock. The pattern is the
            /// documented subset; the server also takes days 29-31 where they exist.
            #[schema(format = DateTime, pattern = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")]
            at: Option<String>,
            $($(#[$field_doc])* $field: $ty,)*
        }
    };
}

signal_doc!(
    /// `participant.joined`.
    ParticipantJoined {
        participant_id: ShortText,
        /// 1-256 characters, no NUL.
        #[schema(min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
        participant_name: String,
    }
);
signal_doc!(
    /// `participant.left`.
    ParticipantLeft {
        participant_id: ShortText,
        reason: LeaveReason,
    }
);
signal_doc!(
    /// `recording.started` and `recording.stopped`.
    Recording {
        /// Generated when absent.
        file_id: Option<ShortText>,
    }
);
signal_doc!(
    /// `livestream.started`, `livestream.stopped` and `hls.stopped`.
    MeetingOnly {}
);
signal_doc!(
    /// `hls.started`.
    HlsStarted {
        /// An absolute http(s) URL.
        #[schema(max_length = 2048, pattern = "^https?://((?![Xx][Nn]--)[A-Za-z0-9-]+\\.)*(?![Xx][Nn]--)[A-Za-z][A-Za-z0-9-]*(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~-]*)*$")]
        downstream_url: String,
    }
);

// Doc-only.
/// Why a participant left.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum LeaveReason {
    Left,
    Disconnected,
    Removed,
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
