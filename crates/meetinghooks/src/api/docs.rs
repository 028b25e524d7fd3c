//! `GET /docs`: the API reference, `/openapi.json` rendered by a vendored Redoc (no CDN).

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::HeaderName;

/// Redoc 2.5.4, `bundles/redoc.standalone.js` of the npm package, unchanged
/// (see `assets/redoc/README.md`).
pub const REDOC_JS: &[u8] = include_bytes!("../../assets/redoc/redoc.standalone.js");

/// The version is in the path, so browsers may keep the script for good.
pub const REDOC_PATH: &str = "/docs/redoc-2.5.4.standalone.js";

// Relative URLs, so the page also works behind a proxy that mounts the API under a prefix.
// Redoc starts itself from the `<redoc>` element; its attributes are its options, so the page
// needs no inline script. Search is off: it runs in a worker made from a `blob:` URL, which
// the policy below does not allow.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>meetinghooks API reference</title>
</head>
<body>
<redoc spec-url="openapi.json" disable-search required-props-first></redoc>
<script src="docs/redoc-2.5.4.standalone.js"></script>
</body>
</html>
"#;

/// Scripts only from this origin, and no inline script. Inline styles are allowed because
/// Redoc injects its CSS at run time; images may be `data:` URLs (its icons).
pub const POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The API reference
///
/// An HTML page that renders this document with a copy of Redoc served by meetinghooks itself,
/// so it works without internet access. Needs no API key.
#[utoipa::path(get, path = "/docs", operation_id = "apiReference", tag = "health",
    responses((status = 200, description = "The API reference page", body = String,
        content_type = "text/html")))]
pub async fn page() -> ([(HeaderName, &'static str); 5], &'static str) {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CONTENT_SECURITY_POLICY, POLICY),
            (CACHE_CONTROL, "no-cache"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (REFERRER_POLICY, "no-referrer"),
        ],
        PAGE,
    )
}

/// The vendored Redoc script; not in the OpenAPI document, as it is a part of `/docs`.
pub async fn redoc_script() -> ([(HeaderName, &'static str); 3], &'static [u8]) {
    (
        [
            (CONTENT_TYPE, "application/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        REDOC_JS,
    )
}
