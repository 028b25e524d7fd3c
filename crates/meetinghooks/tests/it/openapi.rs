//! `GET /openapi.json`: public, OpenAPI 3, and documents exactly the routes the router serves.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::*;

/// Every (path, method) of `api::router`; keep in step with it.
const ROUTES: &[(&str, &str)] = &[
    ("/healthz", "get"),
    ("/readyz", "get"),
    ("/metrics", "get"),
    ("/openapi.json", "get"),
    ("/v1/signals", "post"),
    ("/v1/events", "get"),
    ("/v2/rooms", "post"),
    ("/v2/rooms/{room_id}", "get"),
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
    ("/v1/messages", "get"),
    ("/v1/messages/{id}", "get"),
    ("/v1/messages/{id}/attempts", "get"),
    ("/v1/messages/{id}/resend", "post"),
];

const PUBLIC: &[&str] = &["/healthz", "/readyz", "/metrics", "/openapi.json"];

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
            !PUBLIC.contains(path),
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
