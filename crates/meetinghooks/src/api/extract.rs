//! Request extractors that fail with our JSON errors: the caller's project, JSON bodies, queries.

use crate::domain::public_ids::PublicIds;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::rate_limit::Admission;
use super::strict_json::{self, StrictJsonError};
use super::AppState;
use crate::domain::ids::sha256;
use crate::store::Project;

/// The project whose API key authorised this request.
pub struct Caller(pub Project);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <api key>"))?;
        let scheme = if parts.uri.path().starts_with("/v2/") {
            KeyScheme::BearerOrBare
        } else {
            KeyScheme::Bearer
        };
        let key = header
            .to_str()
            .ok()
            .and_then(|header| api_key(header, scheme))
            .ok_or_else(|| ApiError::unauthorized(scheme.expected()))?;
        let hash = sha256(key.as_bytes());
        let project = state.keys.project(&state.store, key, hash).await?;
        admit(state, hash)?;
        Ok(Caller(project))
    }
}

/// How a route takes its key: VideoSDK's clients send `/v2` keys without a scheme.
#[derive(Clone, Copy)]
enum KeyScheme {
    Bearer,
    BearerOrBare,
}

impl KeyScheme {
    fn expected(self) -> &'static str {
        match self {
            KeyScheme::Bearer => "Authorization must be `Bearer <api key>`",
            KeyScheme::BearerOrBare => "Authorization must be `Bearer <api key>` or `<api key>`",
        }
    }
}

fn api_key(header: &str, scheme: KeyScheme) -> Option<&str> {
    match scheme {
        KeyScheme::Bearer => bearer_token(header),
        KeyScheme::BearerOrBare => bearer_token(header).or_else(|| {
            let key = header.trim();
            (!key.is_empty() && !key.contains(' ')).then_some(key)
        }),
    }
}

/// The token of `Bearer <token>`; the scheme is case-insensitive (RFC 9110 §11.1).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Only known keys spend tokens, so unknown ones cannot fill the limiter's table.
fn admit(state: &AppState, key_hash: [u8; 32]) -> Result<(), ApiError> {
    match state.rate.admit(key_hash) {
        Admission::Allowed => Ok(()),
        Admission::Limited { retry_after } => Err(ApiError::rate_limited(
            retry_after.as_secs_f64().ceil().max(1.0) as u64,
        )),
    }
}

/// A JSON body: `Content-Type: application/json` (else 415), within the route's size (else
/// 413), a JSON object with each key once at every depth (else 400), then parsed with serde.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be sent with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the request body is larger than this route accepts",
                )
            } else {
                ApiError::bad_request("invalid_body", rejection.body_text())
            }
        })?;
        strict_json::check(&bytes).map_err(|e| match e {
            StrictJsonError::NotAnObject => ApiError::bad_request("invalid_json", e.to_string()),
            StrictJsonError::Invalid(message) => ApiError::bad_request("invalid_json", message),
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("invalid JSON body: {e}")))
    }
}

/// `application/json`, in any case, with or without parameters such as `charset`.
fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Query parameters parsed with serde; errors become 400 JSON errors.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        axum::extract::Query::try_from_uri(&parts.uri)
            .map(|q| QueryParams(q.0))
            .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

/// One page of a list, with the cursor of the next page (`null` on the last).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageView<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> PageView<T> {
    pub fn of<S>(page: crate::store::Page<S>, ids: &PublicIds, view: impl FnMut(S) -> T) -> Self {
        PageView {
            data: page.items.into_iter().map(view).collect(),
            next_cursor: page.next_cursor.map(|c| ids.cursor(c)),
        }
    }
}

/// Page size: default 50, at most 500.
pub fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=500).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be 1-500, got {n}"),
        )),
    }
}

/// Cursors are opaque: a position sealed with the install's key (`PublicIds::cursor`).
pub fn parse_cursor(ids: &PublicIds, cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    cursor
        .map(|c| {
            ids.cursor_position(c)
                .ok_or_else(|| ApiError::bad_request("invalid_query", "invalid cursor"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }

    #[test]
    fn json_content_types() {
        let v = |s: &'static str| header::HeaderValue::from_static(s);
        assert!(is_json(Some(&v("application/json"))));
        assert!(is_json(Some(&v("Application/JSON; charset=utf-8"))));
        assert!(!is_json(Some(&v("text/plain"))));
        assert!(!is_json(Some(&v("application/x-www-form-urlencoded"))));
        assert!(!is_json(None));
    }
}
