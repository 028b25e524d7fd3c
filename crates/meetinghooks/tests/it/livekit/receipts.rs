//! What LiveKit is answered beyond applied and duplicate: `stale` for an event older than
//! what was applied, 413 at the signals route's body limit (named in the message), and 503
//! while the store, or only its writes, are down, so LiveKit retries.

use std::sync::Arc;

use meetinghooks::delivery::ssrf::SsrfPolicy;
use meetinghooks::delivery::Dispatcher;
use meetinghooks::domain::ids::sha256;
use meetinghooks::domain::timestamp::Timestamp;
use meetinghooks::sources::livekit::sign::sign;
use meetinghooks::store::Store;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{joined, livekit_source, post_livekit};
use crate::helpers::*;
use crate::store_wrapper::{CountingStore, Reach};

/// A LiveKit participant event for `identity` (its own connection sid) at `secs`.
fn participant_event(event: &str, id: &str, identity: &str, secs: i64, reason: &str) -> Value {
    let mut body = joined(id, "lk-stale", identity, secs);
    body["event"] = json!(event);
    if !reason.is_empty() {
        body["participant"]["disconnectReason"] = json!(reason);
    }
    body
}

/// A room-composite egress to a file, with `status`, updated at `secs`.
fn file_egress(event: &str, id: &str, status: &str, secs: i64) -> Value {
    json!({"event":event,"id":id,"createdAt":secs.to_string(),
        "egressInfo":{"egressId":"EG_stale","roomName":"lk-stale","status":status,
            "updatedAt":(secs * 1_000_000_000).to_string(),
            "roomComposite":{"roomName":"lk-stale","fileOutputs":[{"filepath":"x.mp4"}]}}})
}

#[tokio::test]
async fn events_older_than_what_was_applied_are_answered_stale() {
    let app = TestApp::spawn().await;
    livekit_source(&app, "key-s", "secret-s", json!({})).await;
    let t = Timestamp::now().0 / 1000 - 600;
    let send = |body: Value| {
        let app = &app;
        async move {
            let answer = post_livekit(app, "/v1/sources/livekit", "key-s", "secret-s", &body).await;
            assert_eq!(answer.status(), StatusCode::OK);
            let receipt: Value = answer.json().await.unwrap();
            receipt["outcome"].as_str().unwrap().to_owned()
        }
    };
    let steps = [
        (
            participant_event("participant_joined", "EV_a", "alice", t, ""),
            "applied",
        ),
        (
            participant_event("participant_joined", "EV_b", "bob", t, ""),
            "applied",
        ),
        (
            participant_event(
                "participant_left",
                "EV_al",
                "alice",
                t + 10,
                "CLIENT_INITIATED",
            ),
            "applied",
        ),
        // LiveKit delivers a join after its leave: it changes nothing, and says so.
        (
            participant_event("participant_joined", "EV_late", "alice", t + 5, ""),
            "stale",
        ),
        (
            file_egress("egress_updated", "EV_e1", "EGRESS_ACTIVE", t + 20),
            "applied",
        ),
        (
            file_egress("egress_ended", "EV_e2", "EGRESS_COMPLETE", t + 30),
            "applied",
        ),
        // And an egress start after its end.
        (
            file_egress("egress_started", "EV_e0", "EGRESS_ACTIVE", t + 25),
            "stale",
        ),
    ];
    for (body, outcome) in steps {
        assert_eq!(send(body.clone()).await, outcome, "{body}");
    }
    let types: Vec<String> = app
        .events("lk-stale")
        .await
        .iter()
        .map(|e| e["webhookType"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "session-started",
            "participant-joined",
            "participant-joined",
            "participant-left",
            "recording-started",
            "recording-stopped"
        ]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_livekit_routes_take_the_signals_body_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    // The global limit is far below the signals one: the LiveKit routes get the latter.
    config.body_limit = 4 * 1024;
    config.signals_body_limit = 64 * 1024;
    let app = TestApp::spawn_with(dir, config).await;
    let source = livekit_source(&app, "key-l", "secret-l", json!({})).await;
    let path = source["webhookPath"].as_str().unwrap().to_owned();
    let now = Timestamp::now().0 / 1000;
    let mut body = joined("EV_big", "lk-big", "alice", now);
    // Over the global limit, under the signals one: read, verified and applied.
    body["padding"] = json!("x".repeat(16 * 1024));
    for path in ["/v1/sources/livekit", path.as_str()] {
        let answer = post_livekit(&app, path, "key-l", "secret-l", &body).await;
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
    }
    // Over the signals limit: 413, and the message names the limit in force.
    body["padding"] = json!("x".repeat(70 * 1024));
    for path in ["/v1/sources/livekit", path.as_str()] {
        let answer = post_livekit(&app, path, "key-l", "secret-l", &body).await;
        let message =
            assert_error(answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
        assert!(message.contains(&(64 * 1024).to_string()), "{message}");
    }
    app.shutdown().await;
}

/// The real API on a store the test can take down, on a free port; returns its base URL.
async fn serve_on(store: Arc<CountingStore>, config: &meetinghooks::config::Config) -> String {
    use meetinghooks::api::{self, ApiLimits, AppState, RateLimiter};
    let policy = Arc::new(SsrfPolicy::new(&config.allowed_private_targets).unwrap());
    let dispatcher = Dispatcher::new(store.clone(), config.delivery(), policy).unwrap();
    let state = AppState::new(
        store,
        dispatcher,
        0,
        meetinghooks::telemetry::prometheus(),
        ApiLimits::of(config),
        RateLimiter::new(0, 0),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, api::router(state)).await });
    base
}

#[tokio::test]
async fn the_livekit_routes_answer_503_while_the_store_is_down_so_livekit_retries() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    let store = CountingStore::new(meetinghooks::app::open_store(&config).await.unwrap());
    store
        .ensure_project_key("down", sha256(KEY.as_bytes()))
        .await
        .unwrap();
    let base = serve_on(store.clone(), &config).await;
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{base}/v1/sources"))
        .bearer_auth(KEY)
        .json(&json!({"kind":"livekit","keys":[{"apiKey":"key-d","apiSecret":"secret-d"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let source: Value = created.json().await.unwrap();
    let own_path = source["webhookPath"].as_str().unwrap().to_owned();
    let now = Timestamp::now().0 / 1000;
    let post = |path: String, body: Value| {
        let client = client.clone();
        let url = format!("{base}{path}");
        async move {
            let bytes = body.to_string().into_bytes();
            client
                .post(url)
                .header("authorization", sign("key-d", "secret-d", &bytes, now))
                .header("content-type", "application/webhook+json")
                .body(bytes)
                .send()
                .await
                .unwrap()
        }
    };

    let finished = json!({"event":"room_finished","id":"EV_f","createdAt":now.to_string(),
        "room":{"sid":"RM_1","name":"lk-down"}});
    // Down as a whole (the source is not found), or only for writes (the event not applied).
    for reach in [Reach::Down, Reach::WritesDown] {
        *store.reach.lock().unwrap() = reach;
        for path in ["/v1/sources/livekit", own_path.as_str()] {
            for body in [joined("EV_d", "lk-down", "alice", now), finished.clone()] {
                let answer = post(path.to_owned(), body).await;
                assert_error(answer, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
            }
        }
    }
    // Back up: LiveKit's retry of the same event is applied, once.
    *store.reach.lock().unwrap() = Reach::Up;
    let answer = post(own_path.clone(), joined("EV_d", "lk-down", "alice", now)).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let receipt: Value = answer.json().await.unwrap();
    assert_eq!(receipt["outcome"], "applied", "{receipt}");
}
