//! Webhook URLs are taken exactly as the OpenAPI document states them: a URL in its grammar is
//! accepted by every operation that takes one, and a URL outside it is refused with 400 even
//! where a URL parser would take it (so schemathesis's invalid-data checks hold).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// Parseable URLs the grammar leaves out.
const OUTSIDE: [&str; 4] = [
    "https://hooks.example.com/h#fragment",
    "https://hooks.example.com/%7Euser",
    "https://hooks.example.com/a,b",
    "HTTPS://hooks.example.com/h",
];

#[tokio::test]
async fn urls_outside_the_documented_grammar_are_refused_everywhere() {
    let app = TestApp::spawn().await;
    let inside = "https://user:pa55@hooks.example.com:8443/a/b?x=1&y=";
    let endpoint = app.endpoint(json!({"url": inside})).await;
    let id = endpoint["id"].as_str().unwrap();
    let room = app
        .post(
            "/v2/rooms",
            json!({"webhook": {"endPoint": inside, "events": ["*"]}}),
        )
        .await;
    assert!(room.status().is_success(), "{}", room.status());
    let source = app
        .post(
            "/v1/sources",
            json!({"kind": "livekit", "keys": [{"apiKey": "k-in", "apiSecret": "s"}],
                "hlsRewrite": {"from": inside, "to": "https://cdn.example.com/"}}),
        )
        .await;
    assert_eq!(source.status(), StatusCode::CREATED);

    for url in OUTSIDE {
        let created = app.post("/v1/endpoints", json!({"url": url})).await;
        assert_error(created, StatusCode::BAD_REQUEST, "invalid_request").await;
        let updated = app
            .patch(&format!("/v1/endpoints/{id}"), json!({"url": url}))
            .await;
        assert_error(updated, StatusCode::BAD_REQUEST, "invalid_request").await;
        let room = app
            .post(
                "/v2/rooms",
                json!({"webhook": {"endPoint": url, "events": ["*"]}}),
            )
            .await;
        assert_eq!(room.status(), StatusCode::BAD_REQUEST, "{url}");
        let source = app
            .post(
                "/v1/sources",
                json!({"kind": "livekit", "keys": [{"apiKey": "k-out", "apiSecret": "s"}],
                    "hlsRewrite": {"from": url, "to": "https://cdn.example.com/"}}),
            )
            .await;
        assert_eq!(source.status(), StatusCode::BAD_REQUEST, "{url}");
    }
    // Nothing was changed by the refusals.
    let read: serde_json::Value = app
        .get(&format!("/v1/endpoints/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["url"], "https://…@hooks.example.com:8443/a/b?x=1&y=");
    app.shutdown().await;
}
