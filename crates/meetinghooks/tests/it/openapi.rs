//! `GET /openapi.json` and `GET /docs`: public, OpenAPI 3, documenting exactly the routes the
//! router serves, each explained; and the page that renders it with the vendored Redoc.

use std::collections::BTreeSet;

use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use reqwest::Url;
use serde_json::Value;

use crate::helpers::*;

/// Every (path, method) of `api::router` but the script `/docs` loads; keep in step with it.
const ROUTES: &[(&str, &str)] = &[
    ("/healthz", "get"),
    ("/readyz", "get"),
    ("/openapi.json", "get"),
    ("/docs", "get"),
    ("/v1/signals", "post"),
    ("/v1/events", "get"),
    ("/v2/rooms", "post"),
    ("/v2/rooms", "get"),
    ("/v2/rooms/deactivate", "post"),
    ("/v2/rooms/{room_id}", "get"),
    ("/v2/public/rsa-public-key", "get"),
    ("/v2/sessions", "get"),
    ("/v2/sessions/end", "post"),
    ("/v2/sessions/{session_id}", "get"),
    ("/v1/endpoints", "post"),
    ("/v1/endpoints", "get"),
    ("/v1/endpoints/{id}", "get"),
    ("/v1/endpoints/{id}", "patch"),
    ("/v1/endpoints/{id}", "delete"),
    ("/v1/endpoints/{id}/secret", "get"),
    ("/v1/endpoints/{id}/secret/rotate", "post"),
    ("/v1/endpoints/{id}/test", "post"),
    ("/v1/endpoints/{id}/recover", "post"),
    ("/v1/room-webhooks/secret", "get"),
    ("/v1/room-webhooks/secret/rotate", "post"),
    ("/v1/room-webhooks/rsa-key/rotate", "post"),
    ("/v1/messages", "get"),
    ("/v1/messages/{id}", "get"),
    ("/v1/messages/{id}/attempts", "get"),
    ("/v1/messages/{id}/resend", "post"),
    ("/v1/api-keys", "get"),
    ("/v1/api-keys", "post"),
    ("/v1/api-keys/{id}", "delete"),
    ("/v1/sources", "post"),
    ("/v1/sources", "get"),
    ("/v1/sources/{id}", "get"),
    ("/v1/sources/{id}", "delete"),
    ("/v1/sources/livekit", "post"),
    ("/v1/sources/{id}/livekit", "post"),
];

const PUBLIC: &[&str] = &["/healthz", "/readyz", "/openapi.json", "/docs"];
/// Authenticated by LiveKit's JWT instead of an API key.
const LIVEKIT_JWT: &[&str] = &["/v1/sources/livekit", "/v1/sources/{id}/livekit"];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every `$ref` in the document.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_covers_exactly_the_routes() {
    let app = TestApp::spawn().await;
    // Public: no Authorization header.
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "meetinghooks");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    let paths = doc["paths"].as_object().expect("paths");
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().unwrap();
            METHODS
                .iter()
                .filter(|m| item.contains_key(**m))
                .map(move |m| (path.clone(), m.to_string()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(p, m)| (p.to_string(), m.to_string()))
        .collect();
    let missing: Vec<_> = expected.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "undocumented routes: {missing:?}; documented but not routed: {extra:?}"
    );

    let mut operation_ids = BTreeSet::new();
    for (path, method) in ROUTES {
        let op = &paths[*path][*method];
        let id = op["operationId"].as_str().unwrap_or_default();
        assert!(
            operation_ids.insert(id),
            "{method} {path}: operationId {id:?} missing or repeated"
        );
        assert!(
            op["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{method} {path} has no tag"
        );
        let secured = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        assert_eq!(
            secured,
            !PUBLIC.contains(path) && !LIVEKIT_JWT.contains(path),
            "{method} {path}: bearer security"
        );
        // Path parameters are declared under the names in the template.
        for name in path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        {
            let declared = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path"));
            assert!(declared, "{method} {path}: path parameter {name}");
        }
        if !PUBLIC.contains(path) {
            assert_eq!(
                op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path}: 401 answer"
            );
        }
    }

    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    assert!(schemas.contains_key("ErrorBody"));
    assert!(schemas.contains_key("Signal"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
        assert!(schemas.contains_key(name), "dangling $ref {r}");
    }
    app.shutdown().await;
}

/// The served document, fetched without a key.
async fn served_document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn every_operation_has_a_summary_and_a_description() {
    let app = TestApp::spawn().await;
    let doc = served_document(&app).await;
    let mut lacking = Vec::new();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            operations += 1;
            for field in ["summary", "description"] {
                let text = op[field].as_str().unwrap_or_default().trim();
                if text.is_empty() {
                    lacking.push(format!("{method} {path}: {field}"));
                }
            }
        }
    }
    assert_eq!(operations, ROUTES.len(), "every route was walked");
    assert!(lacking.is_empty(), "operations lacking text: {lacking:#?}");
    app.shutdown().await;
}

#[tokio::test]
async fn the_document_says_how_to_authenticate_and_which_routes_are_public() {
    let app = TestApp::spawn().await;
    let doc = served_document(&app).await;
    let description = doc["info"]["description"].as_str().unwrap_or_default();
    assert!(
        description.contains("Authorization: Bearer <api key>"),
        "{description}"
    );
    for path in PUBLIC {
        assert!(
            description.contains(&format!("`{path}`")),
            "info.description does not name {path} as public: {description}"
        );
        // And it is true: no key needed.
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path} without a key");
    }
    let response = app.client.get(app.url("/v1/events")).send().await.unwrap();
    assert_error(response, reqwest::StatusCode::UNAUTHORIZED, "unauthorized").await;
    app.shutdown().await;
}

/// The directives of a Content-Security-Policy, by name.
fn policy_directives(policy: &str) -> Vec<(String, Vec<String>)> {
    policy
        .split(';')
        .filter_map(|directive| {
            let mut words = directive.split_whitespace().map(str::to_owned);
            Some((words.next()?, words.collect()))
        })
        .collect()
}

/// The `src` of every `<script>` in `html`; fails on a script with inline code.
fn script_sources(html: &str) -> Vec<String> {
    let mut sources = Vec::new();
    for (start, _) in html.match_indices("<script") {
        let (tag, after) = html[start..]
            .split_once('>')
            .expect("a closed <script> tag");
        let body = after.split_once("</script>").expect("</script>").0;
        assert!(body.trim().is_empty(), "inline script: {body}");
        let src = tag
            .split_once("src=\"")
            .and_then(|(_, s)| s.split_once('"'))
            .unwrap_or_else(|| panic!("a <script> without src: {tag}"))
            .0;
        sources.push(src.to_owned());
    }
    sources
}

#[tokio::test]
async fn the_docs_page_renders_the_document_with_the_vendored_redoc() {
    let app = TestApp::spawn().await;
    // Public, like the document it renders.
    let page_url = Url::parse(&app.url("/docs")).unwrap();
    let response = app.client.get(page_url.clone()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8");
    let policy = headers
        .get(CONTENT_SECURITY_POLICY)
        .expect("a Content-Security-Policy")
        .to_str()
        .unwrap()
        .to_owned();
    let directives = policy_directives(&policy);
    let directive = |name: &str| {
        directives
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, values)| values.clone())
            .unwrap_or_else(|| panic!("no {name} in {policy}"))
    };
    assert_eq!(directive("default-src"), ["'none'"], "{policy}");
    assert_eq!(
        directive("script-src"),
        ["'self'"],
        "only same-origin scripts: {policy}"
    );
    let html = response.text().await.unwrap();

    // Redoc reads the document named by the `<redoc>` element.
    let spec = html
        .split_once("<redoc spec-url=\"")
        .and_then(|(_, s)| s.split_once('"'))
        .expect("a <redoc spec-url> element")
        .0;
    assert_eq!(page_url.join(spec).unwrap().path(), "/openapi.json");

    let sources = script_sources(&html);
    assert_eq!(sources.len(), 1, "{sources:?}");
    let script_url = page_url.join(&sources[0]).unwrap();
    assert_eq!(script_url.host_str(), page_url.host_str(), "same origin");
    let response = app.client.get(script_url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()[CONTENT_TYPE].to_str().unwrap();
    assert!(
        content_type.starts_with("application/javascript"),
        "{content_type}"
    );
    let cache = response.headers()[CACHE_CONTROL].to_str().unwrap();
    assert!(cache.contains("max-age="), "{cache}");
    let served = response.bytes().await.unwrap();
    let vendored: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/redoc/redoc.standalone.js"
    ));
    assert!(
        served == vendored,
        "the script is the vendored Redoc, byte for byte"
    );
    app.shutdown().await;
}
