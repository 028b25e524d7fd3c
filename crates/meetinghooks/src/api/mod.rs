//! The HTTP API: routes, shared state and the JSON shapes it speaks.

mod api_keys;
mod docs;
pub(crate) mod endpoints;
mod error;
mod events;
pub(crate) mod extract;
#[cfg(test)]
mod fuzz;
mod health;
mod key_cache;
mod limits;
pub(crate) mod messages;
mod numbered;
mod openapi;
mod rate_limit;
mod rooms;
mod sessions;
mod signals;
mod signals_doc;
mod sources;
mod strict_json;
mod target_url;
mod videosdk;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;

pub use error::ApiError;
use key_cache::KeyCache;
pub use limits::ApiLimits;
pub use rate_limit::RateLimiter;

use crate::delivery::Dispatcher;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub dispatcher: Arc<Dispatcher>,
    /// How long a rotated-out secret keeps signing.
    pub secret_overlap_ms: i64,
    pub metrics: PrometheusHandle,
    pub limits: ApiLimits,
    keys: Arc<KeyCache>,
    rate: Arc<RateLimiter>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        dispatcher: Arc<Dispatcher>,
        secret_overlap_ms: i64,
        metrics: PrometheusHandle,
        limits: ApiLimits,
        rate: RateLimiter,
    ) -> Self {
        AppState {
            keys: Arc::new(KeyCache::new(store.changes().keys)),
            store,
            dispatcher,
            secret_overlap_ms,
            metrics,
            limits,
            rate: Arc::new(rate),
        }
    }
}

/// The API. `/metrics` is not here: it has its own address (`metrics_router`).
pub fn router(state: AppState) -> Router {
    let limits = state.limits;
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route(
            "/v1/signals",
            post(signals::ingest).layer(DefaultBodyLimit::max(limits.signals_body_bytes)),
        )
        .route("/v1/events", get(events::list))
        .route("/v2/rooms", post(rooms::create).get(rooms::list))
        .route("/v2/rooms/deactivate", post(rooms::deactivate))
        .route("/v2/rooms/{room_id}", get(rooms::get))
        .route("/v2/public/rsa-public-key", get(videosdk::public_key))
        .route("/v2/sessions", get(sessions::list))
        .route("/v2/sessions/end", post(sessions::end))
        .route("/v2/sessions/{session_id}", get(sessions::get))
        .route(
            "/v1/endpoints",
            post(endpoints::create).get(endpoints::list),
        )
        .route(
            "/v1/endpoints/{id}",
            get(endpoints::get)
                .patch(endpoints::update)
                .delete(endpoints::delete),
        )
        .route("/v1/endpoints/{id}/secret", get(endpoints::secret))
        .route(
            "/v1/endpoints/{id}/secret/rotate",
            post(endpoints::rotate_secret),
        )
        .route("/v1/endpoints/{id}/test", post(endpoints::send_test))
        .route("/v1/endpoints/{id}/recover", post(endpoints::recover))
        .route("/v1/room-webhooks/secret", get(endpoints::room_secret))
        .route(
            "/v1/room-webhooks/secret/rotate",
            post(endpoints::rotate_room_secret),
        )
        .route("/v1/room-webhooks/rsa-key/rotate", post(videosdk::rotate))
        .route("/v1/api-keys", get(api_keys::list).post(api_keys::create))
        .route("/v1/api-keys/{id}", axum::routing::delete(api_keys::revoke))
        .route("/v1/sources", post(sources::create).get(sources::list))
        // LiveKit's events are signals too: the signals route's body limit, not the global one.
        .route(
            "/v1/sources/livekit",
            post(sources::livekit::receive).layer(DefaultBodyLimit::max(limits.signals_body_bytes)),
        )
        .route(
            "/v1/sources/{id}",
            get(sources::get).delete(sources::delete),
        )
        .route(
            "/v1/sources/{id}/livekit",
            post(sources::livekit::receive_for_source)
                .layer(DefaultBodyLimit::max(limits.signals_body_bytes)),
        )
        .route("/v1/messages", get(messages::list))
        .route("/v1/messages/{id}", get(messages::get))
        .route("/v1/messages/{id}/attempts", get(messages::attempts))
        .route("/v1/messages/{id}/resend", post(messages::resend))
        .route("/openapi.json", get(openapi::document))
        .route("/docs", get(docs::page))
        .route(docs::REDOC_PATH, get(docs::redoc_script))
        .nest("/ui", crate::ui::router())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
        })
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .layer(axum::middleware::from_fn(move |request, next| {
            limits::time_limit(limits.request_timeout, request, next)
        }))
        .with_state(state)
}

/// `/metrics` alone, for `metrics_listen`.
pub fn metrics_router(metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(health::metrics))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .with_state(metrics)
}
