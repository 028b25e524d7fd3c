//! Delivery safety: SSRF refusals, crash recovery on the real binary, graceful shutdown,
//! and bad input to the delivery routes.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::receiver::{Receiver, Reply};

#[tokio::test]
async fn ssrf_targets_are_refused() {
    // The default policy: nothing private is allowed.
    let app = TestApp::spawn().await;
    let literals = [
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://2130706433/hook",
        "http://0177.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.8/hook",
        "http://[fd00::1]/hook",
        "http://100.64.1.1/hook",
        "http://0.0.0.0/hook",
    ];
    for url in literals {
        let response = app
            .post("/v1/endpoints", json!({"url": url, "events": ["*"]}))
            .await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "ssrf_blocked").await;
    }
    let listed: Value = app.get("/v1/endpoints").await.json().await.unwrap();
    assert_eq!(listed["data"], json!([]));
    // A room's own webhook goes through the same check, at create time.
    for url in literals {
        let room =
            json!({"customRoomId": "guarded", "webhook": {"endPoint": url, "events": ["*"]}});
        let response = app.post("/v2/rooms", room).await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "ssrf_blocked").await;
    }
    assert_eq!(
        app.get("/v2/rooms/guarded").await.status(),
        StatusCode::NOT_FOUND
    );

    // A name is checked when it is resolved, at connect time: this machine's hostname
    // resolves to loopback, so the attempt is refused before any byte is sent.
    let receiver = Receiver::answering(200).await;
    let host = local_hostname().await;
    let url = format!("http://{host}:{}/hook", receiver.addr.port());
    let endpoint = app
        .endpoint(json!({"url": url, "events": ["session-started"], "retrySchedule": [0]}))
        .await;
    app.signals(json!([join("1", "m", "p", "2026-01-01T10:00:00Z")]))
        .await;
    let id = endpoint["id"].as_str().unwrap();
    let messages = app
        .wait_messages(id, |m| m[0]["status"] == "exhausted")
        .await;
    let log: Value = app
        .get(&format!(
            "/v1/messages/{}/attempts",
            messages[0]["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log["data"][0]["errorKind"], "ssrf_blocked");
    assert!(receiver.received().is_empty());
    app.shutdown().await;
}

/// A name other than `localhost` that resolves to loopback here.
async fn local_hostname() -> String {
    let name = std::fs::read_to_string("/etc/hostname")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let resolved: Vec<_> = tokio::net::lookup_host((name.as_str(), 80))
        .await
        .map(|a| a.collect())
        .unwrap_or_default();
    assert!(
        !resolved.is_empty()
            && resolved
                .iter()
                .all(|a: &std::net::SocketAddr| a.ip().is_loopback()),
        "this test needs the hostname {name:?} to resolve to loopback, got {resolved:?}"
    );
    name
}

#[tokio::test]
async fn kill_9_under_load_then_every_message_is_delivered() {
    let receiver = Receiver::start(|n, _| {
        if n % 7 == 3 {
            Reply::Status(500)
        } else {
            Reply::Status(200)
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let env = [
        ("MEETINGHOOKS_ALLOWED_PRIVATE_TARGETS", "[\"127.0.0.0/8\"]"),
        (
            "MEETINGHOOKS_RETRY_SCHEDULE",
            "[\"0s\", \"100ms\", \"200ms\", \"300ms\", \"400ms\"]",
        ),
        ("MEETINGHOOKS_RETRY_JITTER", "0"),
        // On PostgreSQL the killed process's leases expire rather than being released.
        ("MEETINGHOOKS_LEASE_DURATION", "3s"),
        ("MEETINGHOOKS_REQUEST_TIMEOUT", "1s"),
        ("MEETINGHOOKS_DATABASE_STATEMENT_TIMEOUT", "1s"),
        ("MEETINGHOOKS_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT", "1s"),
        ("MEETINGHOOKS_DATABASE_LOCK_TIMEOUT", "500ms"),
    ];
    let server = Binary::serve(dir.path(), &env);
    server.wait_ready(&client).await;
    let body = json!({"url": receiver.url("/"), "events": ["*"]});
    let created = post_json(&client, &server.url("/v1/endpoints"), body).await;
    let endpoint_id = created["id"].as_str().unwrap().to_owned();
    for batch in 0..20 {
        let signals: Vec<Value> = (0..25)
            .map(|i| {
                join(
                    &format!("b{batch}-{i}"),
                    &format!("load-{}", i % 5),
                    &format!("p{batch}-{i}"),
                    "2026-01-01T10:00:00Z",
                )
            })
            .collect();
        let response = client
            .post(server.url("/v1/signals"))
            .bearer_auth(KEY)
            .json(&json!({"signals": signals}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    // Kill while deliveries are under way.
    receiver
        .wait_for("deliveries under way", |r| r.len() >= 50)
        .await;
    server.kill9();
    let delivered_before = receiver.delivered().len();

    let server = Binary::serve(dir.path(), &env);
    server.wait_ready(&client).await;
    let ids: Vec<String> = messages_of(&client, &server.url(""), KEY, &endpoint_id)
        .await
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 505, "5 sessions started and 500 joins");
    let wanted: HashSet<String> = ids.into_iter().collect();
    let got = receiver
        .wait_for("every message delivered with a 2xx", |r| {
            let ok: HashSet<&str> = r
                .iter()
                .filter(|r| r.answered == Some(200))
                .map(|r| r.header("webhook-id"))
                .collect();
            wanted.iter().all(|id| ok.contains(id.as_str()))
        })
        .await;
    assert!(got.len() > delivered_before);
}

#[tokio::test]
async fn shutdown_finishes_in_flight_attempts_and_leaves_the_rest_queued() {
    let receiver = Receiver::start(|_, _| Reply::After(Duration::from_millis(400), 200)).await;
    let app = TestApp::delivering().await;
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/"), "events": ["*"]}))
        .await;
    let id = endpoint["id"].as_str().unwrap().to_owned();
    app.signals(json!([
        join("1", "m", "p1", "2026-01-01T10:00:00Z"),
        join("2", "m", "p2", "2026-01-01T10:00:01Z"),
        join("3", "m", "p3", "2026-01-01T10:00:02Z"),
    ]))
    .await;
    receiver
        .wait_for("the first attempt in flight", |r| r.len() == 1)
        .await;
    let config = app.config.clone();
    let dir = tokio::time::timeout(Duration::from_secs(10), app.shutdown())
        .await
        .expect("shutdown finished");
    // The in-flight attempt was allowed to finish and its outcome was written.
    assert_eq!(receiver.received()[0].answered, Some(200));
    assert_eq!(
        receiver.received().len(),
        1,
        "no new attempt after the shutdown began"
    );

    let app = TestApp::spawn_with(dir, config).await;
    let messages = app.messages(&id).await;
    assert_eq!(messages[0]["status"], "succeeded");
    assert!(
        messages[1..].iter().all(|m| m["status"] != "succeeded"),
        "{messages:#?}"
    );
    // The rest was left queued and goes out after the restart, without repeating the first.
    app.wait_messages(&id, |m| m.iter().all(|m| m["status"] == "succeeded"))
        .await;
    let ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 4);
    app.shutdown().await;
}

#[tokio::test]
async fn bad_input_to_delivery_routes_changes_nothing() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(200).await;
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/"), "events": ["*"]}))
        .await;
    let id = endpoint["id"].as_str().unwrap();
    let before: Value = app
        .get(&format!("/v1/endpoints/{id}"))
        .await
        .json()
        .await
        .unwrap();

    let bad_creates = [
        json!({"events": ["*"]}),
        json!({"url": "ftp://example.com", "events": ["*"]}),
        json!({"url": "not a url", "events": ["*"]}),
        json!({"url": "https://example.com", "events": ["nope-*"]}),
        json!({"url": "https://example.com", "events": []}),
        json!({"url": "https://example.com", "ordering": "chaos"}),
        json!({"url": "https://example.com", "rateLimit": 0}),
        json!({"url": "https://example.com", "headers": {"webhook-id": "forged"}}),
        json!({"url": "https://example.com", "headers": {"bad header": "x"}}),
        json!({"url": "https://example.com", "timeoutSeconds": 31}),
        json!({"url": "https://example.com", "retrySchedule": []}),
        json!({"url": "https://example.com", "retrySchedule": [-1]}),
        json!({"url": "https://example.com", "surprise": true}),
    ];
    for body in bad_creates {
        let response = app.post("/v1/endpoints", body.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(error["error"]["message"].is_string());
    }
    let bad_patches = [
        json!({"url": "http://169.254.169.254/"}),
        json!({"ordering": 5}),
        json!({"events": ["x"]}),
    ];
    for body in bad_patches {
        let response = app
            .patch(&format!("/v1/endpoints/{id}"), body.clone())
            .await;
        assert!(response.status().is_client_error(), "{body}");
    }
    let missing = [
        ("GET", "/v1/endpoints/ep_missing".to_owned()),
        ("POST", "/v1/endpoints/ep_missing/secret/rotate".to_owned()),
        ("GET", "/v1/messages/msg_missing".to_owned()),
        ("GET", "/v1/messages/msg_missing/attempts".to_owned()),
        ("POST", "/v1/messages/msg_missing/resend".to_owned()),
    ];
    for (method, path) in missing {
        let request = app
            .client
            .request(method.parse().unwrap(), app.url(&path))
            .bearer_auth(KEY)
            .json(&json!({}));
        assert_error(
            request.send().await.unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    let test = app
        .post(
            &format!("/v1/endpoints/{id}/test"),
            json!({"webhookType": "meeting-exploded"}),
        )
        .await;
    assert_error(test, StatusCode::BAD_REQUEST, "invalid_request").await;
    let recover = app
        .post(
            &format!("/v1/endpoints/{id}/recover"),
            json!({"since": "last tuesday"}),
        )
        .await;
    assert_error(recover, StatusCode::BAD_REQUEST, "invalid_request").await;
    let message = assert_error(
        app.get("/v1/messages?status=lost").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert!(
        message.contains("use one of waiting, pending, delivering"),
        "{message}"
    );
    let unauthorised = app
        .client
        .get(app.url("/v1/endpoints"))
        .send()
        .await
        .unwrap();
    assert_error(unauthorised, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let after: Value = app
        .get(&format!("/v1/endpoints/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after, before);
    let listed: Value = app.get("/v1/endpoints").await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert!(app.messages(id).await.is_empty());
    app.shutdown().await;
}
