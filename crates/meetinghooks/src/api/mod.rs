//! The HTTP API: routes, shared state and the JSON shapes it speaks.

mod error;
mod events;
mod extract;
mod health;
mod rooms;
mod sessions;
mod signals;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Notify;

pub use error::ApiError;
use extract::KeyCache;

use crate::store::Store;

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Woken after ingest, so the timer driver sees newly armed reconnect graces.
    pub timers: Arc<Notify>,
    keys: Arc<KeyCache>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, timers: Arc<Notify>) -> Self {
        AppState {
            store,
            timers,
            keys: Arc::default(),
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
