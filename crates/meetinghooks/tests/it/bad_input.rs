//! Bad input gets a clear JSON 4xx and changes nothing.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

/// Every event of the project, to prove a refused request changed nothing.
async fn snapshot(app: &TestApp) -> Value {
    let events: Value = app.get("/v1/events?limit=500").await.json().await.unwrap();
    let rooms: Vec<u16> = futures_rooms(app).await;
    json!({"events": events, "rooms": rooms})
}

async fn futures_rooms(app: &TestApp) -> Vec<u16> {
    let mut out = Vec::new();
    for id in ["m", "bad-room", "x"] {
        out.push(app.get(&format!("/v2/rooms/{id}")).await.status().as_u16());
    }
    out
}

#[tokio::test]
async fn bad_signals_are_refused_without_effect() {
    let app = TestApp::spawn().await;
    app.signals(json!([join("ok", "m", "p", "2026-01-01T10:00:00Z")]))
        .await;
    let before = snapshot(&app).await;

    let raw = |body: &'static str| {
        app.client
            .post(app.url("/v1/signals"))
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_error(
        raw("{\"signals\": [").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    assert_error(
        raw("[1,2]").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    assert_error(
        raw("{\"signals\": []}").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_signal",
    )
    .await;

    let valid = join("new", "x", "q", "2026-01-01T10:00:01Z");
    let cases = [
        (
            json!({"id":"u","type":"participant.teleported","meetingId":"x"}),
            "unknown type",
        ),
        (
            json!({"id":"u","type":"participant-joined","meetingId":"x"}),
            "signal types use a dot, did you mean \"participant.joined\"?",
        ),
        (
            json!({"id":"u","type":"participant.joined","meetingId":"x","participantId":"q"}),
            "participantName is required",
        ),
        (
            json!({"type":"livestream.started","meetingId":"x"}),
            "id is required",
        ),
        (
            json!({"id":"u","type":"participant.joined","meetingId":"x","participantId":"q","participantName":"n".repeat(257)}),
            "participantName must be 1-256",
        ),
        (
            json!({"id":"u","type":"participant.joined","meetingId":"y".repeat(129),"participantId":"q","participantName":"n"}),
            "meetingId",
        ),
        (
            json!({"id":"u","type":"hls.started","meetingId":"m","downstreamUrl":"javascript:alert(1)"}),
            "downstreamUrl",
        ),
        (
            json!({"id":"u","type":"hls.started","meetingId":"m","downstreamUrl":"file:///etc/passwd"}),
            "downstreamUrl",
        ),
        (
            json!({"id":"u","type":"livestream.started","meetingId":"m","at":"2022-07-05T15:60:35.047+00:00"}),
            "RFC 3339",
        ),
        (
            json!({"id":"u","type":"participant.left","meetingId":"m","participantId":"p","reason":"bored"}),
            "reason",
        ),
        (
            json!({"id":"u\u{0}","type":"livestream.started","meetingId":"m"}),
            "NUL",
        ),
        (
            json!({"id":"u","type":"participant.joined","meetingId":"x","participantId":"q\u{0}","participantName":"n"}),
            "NUL",
        ),
    ];
    for (bad, reason) in cases {
        let response = app.signals(json!([valid.clone(), bad.clone()])).await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "invalid_signal").await;
        assert!(message.starts_with("signals[1]"), "{message}");
        assert!(
            message.contains(reason),
            "{message} should mention {reason}"
        );
    }

    let huge = json!({"signals": [{"id":"big","type":"participant.joined","meetingId":"x","participantId":"q","participantName":"n".repeat(1024 * 1024)}]});
    let response = app.post("/v1/signals", huge).await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    assert_eq!(snapshot(&app).await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn bad_keys_and_routes_are_refused() {
    let app = TestApp::spawn().await;
    let before = snapshot(&app).await;
    let body = json!({"signals": [join("k", "x", "q", "2026-01-01T10:00:01Z")]});
    let missing = app
        .client
        .post(app.url("/v1/signals"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(missing, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let wrong = app
        .client
        .post(app.url("/v1/signals"))
        .bearer_auth("nope-nope-nope")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(wrong, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let basic = app
        .client
        .get(app.url("/v1/events"))
        .basic_auth("u", Some("p"))
        .send()
        .await
        .unwrap();
    assert_error(basic, StatusCode::UNAUTHORIZED, "unauthorized").await;

    assert_error(
        app.get("/v1/nothing").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let wrong_method = app
        .client
        .delete(app.url("/v1/signals"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_error(
        wrong_method,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    assert_error(
        app.get("/v1/events?limit=0").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert_error(
        app.get("/v1/events?type=meeting-exploded").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert_error(
        app.get("/v1/events?after=-4").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert_error(
        app.get("/v2/sessions?perPage=0").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert_error(
        app.get("/v2/rooms?page=0").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;

    let bad_rooms = [
        json!({"customRoomId": "has spaces"}),
        json!({"customRoomId": "bad-room", "webhook": {"endPoint": "ftp://example.com", "events": ["*"]}}),
        json!({"customRoomId": "bad-room", "webhook": {"endPoint": "https://example.com", "events": ["meeting-*"]}}),
        json!({"customRoomId": "bad-room", "webhook": {"endPoint": "https://example.com", "events": []}}),
        json!({"customRoomId": "bad-room", "webhook": {"endPoint": "https://example.com"}}),
        json!({"customRoomId": 5}),
    ];
    for body in bad_rooms {
        let response = app.post("/v2/rooms", body.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    assert_eq!(snapshot(&app).await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn another_projects_room_is_invisible() {
    let app = TestApp::spawn().await;
    app.post("/v2/rooms", json!({"customRoomId": "mine"})).await;
    app.signals(json!([join("1", "mine", "p", "2026-01-01T10:00:00Z")]))
        .await;
    let session_id = app.events("mine").await[0]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();

    // A second project, created through the real CLI against the same database.
    let db = app.config.database_url.clone();
    let output = std::process::Command::new(binary_path())
        .args(["project", "create", "intruder"])
        .env("MEETINGHOOKS_DATABASE_URL", &db)
        .env("MEETINGHOOKS_SECRET_KEY", SECRET_KEY)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let other_key = stdout
        .lines()
        .find_map(|l| l.strip_prefix("api key: "))
        .unwrap()
        .to_owned();
    let other = |path: &str| app.client.get(app.url(path)).bearer_auth(&other_key).send();

    assert_error(
        other("/v2/rooms/mine").await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        other(&format!("/v2/sessions/{session_id}")).await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let events: Value = other("/v1/events?meetingId=mine")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events["data"], json!([]));
    let end = app
        .client
        .post(app.url("/v2/sessions/end"))
        .bearer_auth(&other_key)
        .json(&json!({"roomId": "mine"}))
        .send()
        .await
        .unwrap();
    assert_error(end, StatusCode::NOT_FOUND, "not_found").await;

    // The same meeting id and signal id replayed in the other project: another session id.
    let replay = app
        .client
        .post(app.url("/v1/signals"))
        .bearer_auth(&other_key)
        .json(&json!({"signals": [join("1", "mine", "p", "2026-01-01T10:00:00Z")]}))
        .send()
        .await
        .unwrap();
    assert!(replay.status().is_success(), "{}", replay.status());
    let theirs: Value = other("/v1/events?meetingId=mine")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let their_session = theirs["data"][0]["sessionId"].as_str().unwrap();
    assert_eq!(their_session.len(), 24);
    assert_ne!(their_session, session_id, "two projects share a session id");
    // The owner's session is untouched.
    let session: Value = app
        .get(&format!("/v2/sessions/{session_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(session["status"], "ongoing");
    app.shutdown().await;
}
