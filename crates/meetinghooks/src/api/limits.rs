//! Per-request limits of the API: body sizes per route, the whole-request timeout and the
//! accepted age of a signal's `at`.

use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::config::Config;

#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    /// Largest body on every route but `POST /v1/signals`.
    pub body_bytes: usize,
    pub signals_body_bytes: usize,
    /// A whole request, body included.
    pub request_timeout: Duration,
    /// How old a signal's `at` may be.
    pub signal_max_age: Duration,
    /// How far ahead of the clock a signal's `at` may be.
    pub signal_max_ahead: Duration,
}

impl ApiLimits {
    pub fn of(config: &Config) -> Self {
        ApiLimits {
            body_bytes: config.body_limit,
            signals_body_bytes: config.signals_body_limit,
            request_timeout: config.api_request_timeout,
            signal_max_age: config.signal_max_age,
            signal_max_ahead: config.signal_max_ahead,
        }
    }
}

/// Answers 408 when the request (reading its body included) takes longer than the limit. A
/// store operation already handed over still completes; retrying is safe (signal ids dedupe).
pub async fn time_limit(limit: Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request took longer than {} ms; send it again",
                limit.as_millis()
            ),
        )
        .into_response(),
    }
}
