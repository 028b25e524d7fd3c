//! What every dashboard answer and request goes through: security headers on the way out,
//! the CSRF check on every POST on the way in.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::session::{cookie_value, csrf_matches, Sessions};
use crate::api::ApiError;

/// No inline script may run: scripts and styles come from this origin only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The form field that carries the session's CSRF token.
pub const CSRF_FIELD: &str = "csrf";
/// Largest form a dashboard POST takes.
const FORM_LIMIT: usize = 64 * 1024;

pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// A browser's `Origin`, when it sends one, names this host. (With `Referrer-Policy:
/// no-referrer` browsers send `Origin: null` even from the same page, hence `same-origin`.)
fn same_origin(headers: &axum::http::HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some((_, origin_host)) = origin.split_once("://") else {
        return false;
    };
    // Behind a proxy that rewrites `Host`, the name the browser used is `X-Forwarded-Host`.
    [header::HOST.as_str(), "x-forwarded-host"]
        .into_iter()
        .filter_map(|name| headers.get(name).and_then(|v| v.to_str().ok()))
        .any(|host| host.eq_ignore_ascii_case(origin_host))
}

fn refused(message: &str) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, "csrf_refused", message).into_response()
}

/// Every POST but sign-in (which has no session yet) must carry the session's token in its
/// form; otherwise 403 and nothing runs.
pub async fn csrf(request: Request, next: Next) -> Response {
    if request.method() == Method::GET || request.method() == Method::HEAD {
        return next.run(request).await;
    }
    if !same_origin(request.headers()) {
        return refused("the form was posted from another site");
    }
    // Sign-in has no session yet; the origin check above keeps other sites from signing a
    // browser into their project.
    if request.uri().path().ends_with("/sign-in") {
        return next.run(request).await;
    }
    let sessions = request.extensions().get::<Arc<Sessions>>().cloned();
    let session = request
        .headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(cookie_value)
        .zip(sessions)
        .and_then(|(id, sessions)| sessions.get(id));
    let Some(session) = session else {
        return refused("sign in to the dashboard first");
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, FORM_LIMIT).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the form is larger than the dashboard accepts",
        )
        .into_response();
    };
    let token = url::form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == CSRF_FIELD)
        .map(|(_, value)| value.into_owned());
    match token {
        Some(token) if csrf_matches(&session, &token) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Some(_) => refused("the form's CSRF token is not this session's; reload the page"),
        None => refused("the form carries no CSRF token"),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::same_origin;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn the_origin_must_name_this_host_when_sent() {
        assert!(same_origin(&headers(&[("host", "a.example:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "a.example:8080"),
            ("origin", "http://a.example:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "a.example:8080"),
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "a.example"),
            ("origin", "null")
        ])));
        let proxied = [
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-host", "hooks.example"),
            ("origin", "https://hooks.example"),
        ];
        assert!(same_origin(&headers(&proxied)));
    }
}
