//! Liveness (`/healthz`), readiness (`/readyz`, which pings the store) and `/metrics`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use utoipa::ToSchema;

use metrics_exporter_prometheus::PrometheusHandle;

use super::AppState;

/// How long `/readyz` waits for the store (on SQLite: for the writer to run a statement).
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

// Doc-only: the handlers answer with `json!`.
/// A health answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct HealthStatus {
    /// `ok`, `ready` or `unavailable`.
    #[schema(example = "ok")]
    status: String,
    /// Only when unavailable: the dependencies that do not answer, e.g. `database`. Their
    /// errors go to the server's log, not here.
    failing: Option<Vec<String>>,
}

/// Liveness
///
/// Answers 200 while the process runs, without asking the store. Needs no API key.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "health",
    responses((status = 200, description = "The process is up", body = HealthStatus)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness
///
/// 200 while the store answers; 503 while it does not, naming the failing dependency
/// (`database`) without its error text, which the server logs: point a load balancer here.
/// Needs no API key.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "health",
    responses(
        (status = 200, description = "The store answers", body = HealthStatus),
        (status = 503, description = "The store does not answer", body = HealthStatus),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    // A store that hangs is as unready as one that refuses.
    let answer = tokio::time::timeout(PING_TIMEOUT, state.store.ping()).await;
    match answer {
        Ok(Ok(())) => return (StatusCode::OK, Json(json!({"status": "ready"}))),
        Ok(Err(e)) => tracing::warn!(error = %e, "not ready: the database failed its check"),
        Err(_) => tracing::warn!(
            timeout_s = PING_TIMEOUT.as_secs(),
            "not ready: the database gave no answer in time"
        ),
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "unavailable", "failing": ["database"]})),
    )
}

/// Prometheus metrics on `metrics_listen`: attempts by outcome, delivery latency, queue depth
/// and disabled endpoints, totals over every project, so not on the API's address.
pub async fn metrics(
    State(metrics): State<PrometheusHandle>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        metrics.render(),
    )
}
