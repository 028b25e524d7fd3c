//! Bodies are read strictly: JSON by content type only (415), an object at the top, each key
//! once at every depth, a signal's `at` within its window; and the `Bearer` scheme in any case.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

async fn raw(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(path))
        .bearer_auth(KEY)
        .body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await.unwrap()
}

async fn event_count(app: &TestApp) -> usize {
    let page: Value = app.get("/v1/events?limit=500").await.json().await.unwrap();
    page["data"].as_array().unwrap().len()
}

#[tokio::test]
async fn json_routes_take_json_only() {
    let app = TestApp::spawn().await;
    let signal = r#"{"signals":[{"id":"a","type":"participant.joined","meetingId":"m","participantId":"p","participantName":"Ada"}]}"#;
    for path in ["/v1/signals", "/v2/rooms", "/v1/endpoints"] {
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ] {
            assert_error(
                raw(&app, path, content_type, signal).await,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            )
            .await;
        }
    }
    assert_eq!(event_count(&app).await, 0);
    let accepted = raw(
        &app,
        "/v1/signals",
        Some("application/json; charset=utf-8"),
        signal,
    )
    .await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    app.shutdown().await;
}

#[tokio::test]
async fn only_objects_and_no_key_twice_at_any_depth() {
    let app = TestApp::spawn().await;
    let json = Some("application/json");
    let message = assert_error(
        raw(&app, "/v2/rooms", json, r#"["arr-room",null]"#).await,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    assert!(message.contains("object"), "{message}");
    assert_eq!(
        app.get("/v2/rooms/arr-room").await.status(),
        StatusCode::NOT_FOUND
    );

    let duplicated = [
        // Top level, inside a signal, inside a room's webhook.
        r#"{"signals":[],"signals":[{"id":"a","type":"livestream.started","meetingId":"m"}]}"#,
        r#"{"signals":[{"id":"a","id":"b","type":"participant.joined","meetingId":"m","participantId":"p","participantName":"Ada"}]}"#,
    ];
    for body in duplicated {
        let message = assert_error(
            raw(&app, "/v1/signals", json, body).await,
            StatusCode::BAD_REQUEST,
            "invalid_json",
        )
        .await;
        assert!(message.contains("duplicate key"), "{message}");
    }
    let room = r#"{"customRoomId":"r","webhook":{"endPoint":"https://example.com/a","endPoint":"https://example.com/b","events":["*"]}}"#;
    assert_error(
        raw(&app, "/v2/rooms", json, room).await,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    assert_eq!(app.get("/v2/rooms/r").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(event_count(&app).await, 0);
    app.shutdown().await;
}

#[tokio::test]
async fn a_signal_time_must_be_within_its_window() {
    let app = {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        config.signal_max_age = Duration::from_secs(3600);
        TestApp::spawn_with(dir, config).await
    };
    let at = |offset_secs: i64| {
        let t = chrono::Utc::now() + chrono::Duration::seconds(offset_secs);
        t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    for (too_far, what) in [
        (
            "0001-01-01T00:00:00Z".to_owned(),
            "older than signal_max_age",
        ),
        (at(-2 * 3600), "older than signal_max_age"),
        (at(3600), "in the future"),
    ] {
        let message = assert_error(
            app.signals(json!([join("s", "m", "p", &too_far)])).await,
            StatusCode::BAD_REQUEST,
            "invalid_signal",
        )
        .await;
        assert!(message.contains(what), "{too_far}: {message}");
    }
    assert_eq!(event_count(&app).await, 0);
    let recent = app.signals(json!([join("s", "m", "p", &at(-1800))])).await;
    assert_eq!(recent.status(), StatusCode::ACCEPTED);
    app.shutdown().await;
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = TestApp::spawn().await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = app
            .client
            .get(app.url("/v1/endpoints"))
            .header("authorization", format!("{scheme} {KEY}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
    }
    let basic = app
        .client
        .get(app.url("/v1/endpoints"))
        .header("authorization", format!("Basic {KEY}"))
        .send()
        .await
        .unwrap();
    assert_error(basic, StatusCode::UNAUTHORIZED, "unauthorized").await;
    app.shutdown().await;
}
