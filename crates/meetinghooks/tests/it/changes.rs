//! The store announces its changes: work no request woke the dispatcher for (a grace that
//! expired, a forced session end, a changed room webhook) is delivered at once with the
//! periodic refresh and poll set to an hour; and on PostgreSQL an idle node hears work another
//! node committed within milliseconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use meetinghooks::domain::ids::sha256;
use meetinghooks::domain::signal::parse_batch;
use meetinghooks::domain::timestamp::Timestamp;
use meetinghooks::engine::EngineConfig;
use meetinghooks::store::postgres::PostgresStore;
use meetinghooks::store::Store;
use meetinghooks::Config;
use serde_json::json;

use crate::helpers::{
    delivery_config, eventually_within, fresh_postgres_database, join, leave, test_sealer, TestApp,
    KEY,
};
use crate::receiver::Receiver;

const HOUR: Duration = Duration::from_secs(3600);
/// Far below the safety nets (an hour here), far above a wake-up's few milliseconds.
const PROMPTLY: Duration = Duration::from_secs(1);

/// Only announced changes can make the dispatcher look again.
fn safety_nets_off(config: &mut Config) {
    config.endpoint_refresh = HOUR;
    config.shared_poll = HOUR;
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn webhook_types(receiver: &Receiver) -> Vec<String> {
    receiver
        .received()
        .iter()
        .map(|r| r.json()["webhookType"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_grace_fired_participant_left_is_delivered_at_once() {
    let app = TestApp::delivering_with(safety_nets_off).await;
    let receiver = Receiver::answering(200).await;
    app.endpoint(json!({"url": receiver.url("/left"), "events": ["participant-left"]}))
        .await;
    let at = now_rfc3339();
    let response = app
        .signals(json!([
            join("j", "grace", "p", &at),
            leave("l", "grace", "p", "disconnected", &at)
        ]))
        .await;
    assert_eq!(response.status(), 202);
    let grace = app.config.reconnect_grace;
    eventually_within(grace + PROMPTLY, "participant-left after the grace", || {
        let types = webhook_types(&receiver);
        async move { types == ["participant-left"] }
    })
    .await;
}

#[tokio::test]
async fn a_forced_session_end_is_delivered_at_once() {
    let app = TestApp::delivering_with(safety_nets_off).await;
    let receiver = Receiver::answering(200).await;
    app.endpoint(json!({"url": receiver.url("/end"), "events": ["session-ended"]}))
        .await;
    let response = app
        .signals(json!([join("j", "ended", "p", &now_rfc3339())]))
        .await;
    assert_eq!(response.status(), 202);
    let response = app
        .post("/v2/sessions/end", json!({"roomId": "ended"}))
        .await;
    assert_eq!(response.status(), 200);
    eventually_within(PROMPTLY, "session-ended after the forced end", || {
        let types = webhook_types(&receiver);
        async move { types == ["session-ended"] }
    })
    .await;
}

#[tokio::test]
async fn a_changed_room_webhook_gets_the_next_delivery() {
    let app = TestApp::delivering_with(safety_nets_off).await;
    let (first, second) = (
        Receiver::answering(200).await,
        Receiver::answering(200).await,
    );
    let hook = |receiver: &Receiver| {
        json!({"customRoomId": "hooked", "webhook": {"endPoint": receiver.url("/room"),
               "events": ["participant-joined"]}})
    };
    let response = app.post("/v2/rooms", hook(&first)).await;
    assert_eq!(response.status(), 201);
    let response = app
        .signals(json!([join("a", "hooked", "p1", &now_rfc3339())]))
        .await;
    assert_eq!(response.status(), 202);
    eventually_within(PROMPTLY, "the first URL's delivery", || {
        let n = first.received().len();
        async move { n == 1 }
    })
    .await;

    let response = app.post("/v2/rooms", hook(&second)).await;
    assert_eq!(response.status(), 200);
    let response = app
        .signals(json!([join("b", "hooked", "p2", &now_rfc3339())]))
        .await;
    assert_eq!(response.status(), 202);
    eventually_within(PROMPTLY, "the new URL's first delivery", || {
        let n = second.received().len();
        async move { n == 1 }
    })
    .await;
    assert_eq!(first.received().len(), 1, "the old URL got traffic");
}

/// Node A is a store with no dispatcher; node B, idle, with its safety nets off, must hear
/// A's commits through LISTEN/NOTIFY and deliver them at once.
#[tokio::test]
#[cfg_attr(not(has_postgres), ignore = "needs TEST_POSTGRES_URL")]
async fn an_idle_node_delivers_work_another_node_committed() {
    let Some(database_url) = fresh_postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        database_url: database_url.clone(),
        ..delivery_config(dir.path())
    };
    let mut config = config;
    safety_nets_off(&mut config);
    let node_b = TestApp::spawn_with(dir, config).await;
    let receiver = Receiver::answering(200).await;
    node_b
        .endpoint(json!({"url": receiver.url("/b"), "events": ["participant-joined"]}))
        .await;

    let engine = EngineConfig {
        reconnect_grace_ms: 2_000,
    };
    let node_a: Arc<dyn Store> = Arc::new(
        PostgresStore::open(&database_url, 4, engine, test_sealer())
            .await
            .unwrap(),
    );
    let project = node_a
        .ensure_project_key("default", sha256(KEY.as_bytes()))
        .await
        .unwrap();

    const ROUNDS: usize = 50;
    let mut latencies = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let meeting = format!("far-{round}");
        let batch = vec![join(&format!("s-{round}"), &meeting, "p", &now_rfc3339())];
        let signals = parse_batch(&batch, Timestamp::now()).unwrap();
        let report = node_a.ingest(&project.id, signals).await.unwrap();
        let committed = Instant::now();
        assert_eq!(report.messages, 1, "round {round}");
        eventually_within(Duration::from_secs(5), "node B's delivery", || {
            let n = receiver.received().len();
            async move { n > round }
        })
        .await;
        let arrived = receiver.received()[round].at;
        latencies.push(arrived.saturating_duration_since(committed));
    }
    latencies.sort();
    let (p50, p99) = (latencies[ROUNDS / 2], latencies[ROUNDS * 99 / 100]);
    eprintln!(
        "cross-node wake-up over {ROUNDS} rounds: p50 {p50:?}, p99 {p99:?}, max {:?}",
        latencies[ROUNDS - 1]
    );
    // With the poll an hour away, every arrival was woken by NOTIFY. How fast is the bench's
    // business (the cluster scenario); a timed assertion here would only measure the machine.
}
