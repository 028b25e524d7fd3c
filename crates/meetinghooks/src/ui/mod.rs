//! The dashboard at `/ui`: server-rendered pages (maud escapes every value), one embedded
//! stylesheet and script, a strict Content-Security-Policy, cookie sessions with CSRF tokens.
//! Reads use the project-scoped store calls; actions call the `/v1` handlers themselves.

mod actions;
mod auth;
mod charts;
mod endpoints;
mod error;
mod guard;
mod layout;
mod live;
mod meetings;
mod messages;
mod overview;
mod session;
mod stats;
mod timeline;

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Router};

use crate::api::AppState;
use error::UiResult;
pub use session::Sessions;

/// The dashboard's routes, to be nested at `/ui`.
pub fn router() -> Router<AppState> {
    let sessions = Arc::new(Sessions::default());
    Router::new()
        .route("/", get(overview::page))
        .route("/sign-in", get(auth::form).post(auth::sign_in))
        .route("/sign-out", post(auth::sign_out))
        .route(
            "/endpoints",
            get(endpoints::list).post(actions::create_endpoint),
        )
        .route(
            "/endpoints/{id}",
            get(endpoints::detail).post(actions::edit_endpoint),
        )
        .route("/endpoints/{id}/enabled", post(actions::set_enabled))
        .route("/endpoints/{id}/delete", post(actions::delete_endpoint))
        .route("/endpoints/{id}/secret", post(actions::reveal_secret))
        .route("/endpoints/{id}/rotate", post(actions::rotate_secret))
        .route("/endpoints/{id}/test", post(actions::send_test))
        .route("/endpoints/{id}/recover", post(actions::recover))
        .route("/messages", get(messages::list))
        .route("/messages/{id}", get(messages::detail))
        .route("/messages/{id}/resend", post(actions::resend))
        .route("/meetings", get(meetings::rooms))
        .route("/meetings/{room_id}", get(meetings::room))
        .route("/sessions/{id}", get(timeline::page))
        .route("/live", get(live::page))
        .route("/live/stream", get(live::stream))
        .route("/assets/dashboard.css", get(stylesheet))
        .route("/assets/dashboard.js", get(script))
        .layer(axum::middleware::from_fn(guard::csrf))
        .layer(Extension(sessions))
        .layer(axum::middleware::from_fn(guard::security_headers))
}

const CSS: &str = include_str!("assets/dashboard.css");
const JS: &str = include_str!("assets/dashboard.js");

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        CSS,
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        JS,
    )
}
