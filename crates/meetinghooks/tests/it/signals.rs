//! Ingest semantics: idempotency, staleness, conflicts, grace expiry and group commit.

use std::time::Duration;

use meetinghooks::Config;
use serde_json::{json, Value};

use crate::helpers::*;

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["webhookType"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn repeated_ids_are_counted_as_duplicates_and_add_nothing() {
    let app = TestApp::spawn().await;
    let batch = json!([
        join("a", "m1", "p1", "2026-01-01T10:00:00Z"),
        join("b", "m1", "p2", "2026-01-01T10:00:01Z"),
    ]);
    let first: Value = app.signals(batch.clone()).await.json().await.unwrap();
    assert_eq!(
        first,
        json!({"accepted":2,"duplicates":0,"stale":0,"events":3,"messages":0})
    );
    let again: Value = app.signals(batch).await.json().await.unwrap();
    assert_eq!(
        again,
        json!({"accepted":0,"duplicates":2,"stale":0,"events":0,"messages":0})
    );
    // A repeat inside one batch is a duplicate too.
    let mixed = json!([
        leave("c", "m1", "p2", "left", "2026-01-01T10:00:02Z"),
        leave("c", "m1", "p2", "left", "2026-01-01T10:00:02Z")
    ]);
    let mixed: Value = app.signals(mixed).await.json().await.unwrap();
    assert_eq!(mixed["duplicates"], 1);
    assert_eq!(app.events("m1").await.len(), 4);
    app.shutdown().await;
}

#[tokio::test]
async fn a_left_that_arrives_after_the_rejoin_is_stale() {
    let app = TestApp::spawn().await;
    app.signals(json!([
        join("1", "m", "p", "2026-01-01T10:00:00Z"),
        join("2", "m", "q", "2026-01-01T10:00:00Z")
    ]))
    .await;
    app.signals(json!([join("4", "m", "p", "2026-01-01T10:00:03Z")]))
        .await;
    let report: Value = app
        .signals(json!([leave(
            "3",
            "m",
            "p",
            "left",
            "2026-01-01T10:00:02Z"
        )]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["stale"], 1);
    assert_eq!(
        types(&app.events("m").await),
        [
            "session-started",
            "participant-joined",
            "participant-joined"
        ]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn media_without_a_session_is_a_409_and_the_batch_is_not_applied() {
    let app = TestApp::spawn().await;
    let response = app
        .signals(json!([
            join("1", "other", "p", "2026-01-01T10:00:00Z"),
            {"id":"2","type":"recording.started","meetingId":"empty"}
        ]))
        .await;
    let message = assert_error(
        response,
        reqwest::StatusCode::CONFLICT,
        "no_ongoing_session",
    )
    .await;
    assert!(message.contains("signals[1]"), "{message}");
    // The valid first signal was not applied, and its id is still free.
    assert!(app.events("other").await.is_empty());
    let ok: Value = app
        .signals(json!([join("1", "other", "p", "2026-01-01T10:00:00Z")]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ok["accepted"], 1);
    app.shutdown().await;
}

#[tokio::test]
async fn a_disconnect_without_rejoin_leaves_after_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        reconnect_grace: Duration::from_millis(300),
        ..test_config(dir.path())
    };
    let app = TestApp::spawn_with(dir, config).await;
    // The grace runs from receipt; the stay and the session end at the disconnect's own time.
    app.signals(json!([
        join("1", "g", "p", "2026-01-01T10:00:00Z"),
        {"id":"2","type":"recording.started","meetingId":"g","at":"2026-01-01T10:00:01Z"},
        leave("3", "g", "p", "disconnected", "2026-01-01T10:00:02Z"),
    ]))
    .await;
    eventually("the grace fires", || async {
        app.events("g").await.len() == 6
    })
    .await;
    let events = app.events("g").await;
    assert_eq!(
        types(&events),
        [
            "session-started",
            "participant-joined",
            "recording-started",
            "participant-left",
            "recording-stopped",
            "session-ended"
        ]
    );
    assert_eq!(
        events[5]["payload"]["data"]["end"],
        "2026-01-01T10:00:02.000+00:00"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn concurrent_batches_all_commit() {
    let app = TestApp::spawn().await;
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (client, url) = (app.client.clone(), app.url("/v1/signals"));
        let signal = join(
            &format!("sig-{i}"),
            &format!("c{}", i % 4),
            &format!("p{i}"),
            "2026-01-01T10:00:00Z",
        );
        posts.spawn(async move {
            client
                .post(url)
                .bearer_auth(KEY)
                .json(&json!({"signals": [signal]}))
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    while let Some(status) = posts.join_next().await {
        assert_eq!(status.unwrap(), 202);
    }
    for m in 0..4 {
        let events = app.events(&format!("c{m}")).await;
        // One session-started and ten joins per meeting, sequences without gaps.
        assert_eq!(events.len(), 11);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e["sequence"], i as u64 + 1);
        }
    }
    app.shutdown().await;
}
