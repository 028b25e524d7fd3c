//! No node holds a meeting hostage on PostgreSQL: while another session holds one meeting's
//! room lock (a frozen node inside its transaction), outcomes of other meetings are still
//! written and their queues move on; the blocked meeting's outcome lands once the lock goes.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{delivery_config, eventually_within, fresh_postgres_database, join, TestApp};
use crate::raw_db::RawDb;
use crate::receiver::{Receiver, Reply};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(has_postgres), ignore = "needs TEST_POSTGRES_URL")]
async fn one_locked_meeting_does_not_hold_back_the_outcomes_of_others() {
    let url = fresh_postgres_database()
        .await
        .expect("has_postgres is set, so TEST_POSTGRES_URL is");
    let dir = tempfile::tempdir().unwrap();
    let config = meetinghooks::Config {
        database_url: url.clone(),
        database_lock_timeout: Duration::from_millis(200),
        ..delivery_config(dir.path())
    };
    let app = TestApp::spawn_with(dir, config).await;
    // Meeting a's webhooks are answered after half a second (inside the 1 s timeout), so their outcome comes while the
    // room is held; the others at once.
    let receiver = Receiver::start(
        |_, request| match request.json()["data"]["meetingId"] == "a" {
            true => Reply::After(Duration::from_millis(500), 200),
            false => Reply::Status(200),
        },
    )
    .await;
    let endpoint = app
        .endpoint(
            json!({"url": receiver.url("/"), "events": ["participant-joined"],
                         "ordering": "meeting"}),
        )
        .await;
    let endpoint_id = endpoint["id"].as_str().unwrap().to_owned();
    app.signals(json!([join("s1", "a", "p1", "2026-01-01T10:00:00Z")]))
        .await;

    // A frozen node's transaction holding meeting a's room.
    let RawDb::Postgres(frozen) = RawDb::open(&url).await else {
        unreachable!("a postgres:// URL")
    };
    frozen
        .batch_execute("BEGIN; SELECT 1 FROM rooms WHERE room_id = 'a' FOR UPDATE")
        .await
        .unwrap();
    // Meeting a's outcome is being written, and waits for the room.
    let raw = RawDb::open(&url).await;
    eventually_within(
        Duration::from_secs(10),
        "an outcome waiting for a's room",
        || async {
            let waiting = raw
                .strings(
                    "SELECT pid::TEXT FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .await;
            !waiting.is_empty()
        },
    )
    .await;
    app.signals(json!([
        join("s2", "b", "p1", "2026-01-01T10:00:00Z"),
        join("s3", "b", "p2", "2026-01-01T10:00:01Z"),
    ]))
    .await;
    // b's second webhook goes only after the outcome of its first is written.
    eventually_within(
        Duration::from_secs(5),
        "meeting b's queue moved on while a's room is held",
        || {
            let b = receiver
                .delivered()
                .iter()
                .filter(|r| r.json()["data"]["meetingId"] == "b")
                .count();
            async move { b == 2 }
        },
    )
    .await;
    frozen.batch_execute("COMMIT").await.unwrap();
    eventually_within(Duration::from_secs(10), "every outcome written", || {
        let app = &app;
        let endpoint_id = &endpoint_id;
        async move {
            let messages = app.messages(endpoint_id).await;
            messages.len() == 3 && messages.iter().all(|m| m["status"] == "succeeded")
        }
    })
    .await;
    let received = receiver.received();
    assert_eq!(received.len(), 3, "each webhook sent once");
    app.shutdown().await;
}
