//! The HTTP API: routes, shared state and the JSON shapes it speaks.

mod api_keys;
mod docs;
mod endpoints;
mod error;
mod events;
mod extract;
mod health;
mod key_cache;
mod messages;
mod openapi;
mod rooms;
mod sessions;
mod signals;
mod sources;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;

pub use error::ApiError;
use key_cache::KeyCache;

use crate::delivery::Dispatcher;
use crate::store::Store;

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub dispatcher: Arc<Dispatcher>,
    /// How long a rotated-out secret keeps signing.
    pub secret_overlap_ms: i64,
    pub metrics: PrometheusHandle,
    keys: Arc<KeyCache>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        dispatcher: Arc<Dispatcher>,
        secret_overlap_ms: i64,
        metrics: PrometheusHandle,
    ) -> Self {
        AppState {
            keys: Arc::new(KeyCache::new(store.changes().keys)),
            store,
            dispatcher,
            secret_overlap_ms,
            metrics,
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/v1/signals", post(signals::ingest))
        .route("/v1/events", get(events::list))
        .route("/v2/rooms", post(rooms::create))
        .route("/v2/rooms/{room_id}", get(rooms::get))
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
        .route("/v1/api-keys", get(api_keys::list).post(api_keys::create))
        .route("/v1/api-keys/{id}", axum::routing::delete(api_keys::revoke))
        .route("/v1/sources", post(sources::create).get(sources::list))
        .route("/v1/sources/livekit", post(sources::livekit::receive))
        .route(
            "/v1/sources/{id}",
            get(sources::get).delete(sources::delete),
        )
        .route(
            "/v1/sources/{id}/livekit",
            post(sources::livekit::receive_for_source),
        )
        .route("/v1/messages", get(messages::list))
        .route("/v1/messages/{id}", get(messages::get))
        .route("/v1/messages/{id}/attempts", get(messages::attempts))
        .route("/v1/messages/{id}/resend", post(messages::resend))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::document))
        .route("/docs", get(docs::page))
        .route(docs::REDOC_PATH, get(docs::redoc_script))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
