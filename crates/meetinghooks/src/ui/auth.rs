//! Signing in with a project's API key, the `Signed` extractor every page takes, and
//! signing out. The key travels only in the sign-in form's body; it is never stored, logged
//! or shown: the session keeps its hash.

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::html;
use serde::Deserialize;

use super::layout::{self, Markup};
use super::session::{cookie_value, Flash, FlashKind, Sessions, COOKIE, LIFETIME};
use crate::api::AppState;
use crate::domain::ids::sha256;
use crate::store::Project;

/// The signed-in project of a dashboard request.
pub struct Signed {
    pub project: Project,
    pub session_id: String,
    pub csrf: String,
    pub sessions: Arc<Sessions>,
}

impl Signed {
    /// Shows `text` on the next page this session loads.
    pub fn flash(&self, kind: FlashKind, text: impl Into<String>) {
        self.sessions.set_flash(
            &self.session_id,
            Flash {
                kind,
                text: text.into(),
            },
        );
    }

    pub fn take_flash(&self) -> Option<Flash> {
        self.sessions.take_flash(&self.session_id)
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_sign_in = || Redirect::to("/ui/sign-in").into_response();
        let sessions = parts
            .extensions
            .get::<Arc<Sessions>>()
            .cloned()
            .ok_or_else(to_sign_in)?;
        let id = parts
            .headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(cookie_value)
            .ok_or_else(to_sign_in)?
            .to_owned();
        let session = sessions.get(&id).ok_or_else(to_sign_in)?;
        // Looked up each time, so a revoked key ends its sessions at once.
        let found = state
            .store
            .key_by_hash(session.key_hash)
            .await
            .map_err(|e| layout::error_page(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()))?;
        let Some(found) = found else {
            sessions.remove(&id);
            return Err(to_sign_in());
        };
        Ok(Signed {
            project: found.project,
            session_id: id,
            csrf: session.csrf,
            sessions,
        })
    }
}

pub async fn form() -> Markup {
    sign_in_page(None)
}

fn sign_in_page(problem: Option<&str>) -> Markup {
    layout::bare(
        "Sign in",
        html! {
            main.sign-in {
                h1 { "meetinghooks" }
                p { "Sign in with an API key of your project." }
                @if let Some(problem) = problem {
                    p.flash.failed role="alert" { (problem) }
                }
                form method="post" action="/ui/sign-in" {
                    label for="api_key" { "API key" }
                    input #api_key type="password" name="api_key" autocomplete="off" required autofocus;
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

#[derive(Deserialize)]
pub struct SignIn {
    api_key: String,
}

/// Behind a TLS-terminating proxy the cookie is `Secure`; the server itself speaks HTTP.
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

pub async fn sign_in(
    State(state): State<AppState>,
    Extension(sessions): Extension<Arc<Sessions>>,
    headers: HeaderMap,
    Form(input): Form<SignIn>,
) -> Response {
    let hash = sha256(input.api_key.trim().as_bytes());
    match state.store.key_by_hash(hash).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return (
                StatusCode::UNAUTHORIZED,
                sign_in_page(Some("Unknown API key.")),
            )
                .into_response()
        }
        Err(e) => return layout::error_page(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
    let id = sessions.create(hash);
    let cookie = format!(
        "{COOKIE}={id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{}",
        LIFETIME.as_secs(),
        if over_tls(&headers) { "; Secure" } else { "" }
    );
    let mut response = Redirect::to("/ui").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

pub async fn sign_out(signed: Signed) -> Response {
    signed.sessions.remove(&signed.session_id);
    let mut response = Redirect::to("/ui/sign-in").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("mh_session=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}
