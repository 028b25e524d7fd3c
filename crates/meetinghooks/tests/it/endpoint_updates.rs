//! Endpoint changes: a PATCH racing a rotation loses neither; re-enabling and recovering move
//! stranded queues on in both stores; SQLite updates rows in place and has PostgreSQL's
//! `messages_by_project` index.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{delivery_config, eventually_within, join, TestApp};
use crate::raw_db::{position, RawDb};
use crate::receiver::Receiver;

/// How long a repaired queue may take to deliver; the broken one never does.
const REPAIR_DEADLINE: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_patch_racing_a_rotation_never_restores_the_old_secret() {
    let app = TestApp::spawn().await;
    let endpoint = app
        .endpoint(json!({"url": "https://hooks.example.com/x"}))
        .await;
    let id = endpoint["id"].as_str().unwrap();
    let (path, rotate) = (
        format!("/v1/endpoints/{id}"),
        format!("/v1/endpoints/{id}/secret/rotate"),
    );
    for i in 0..200 {
        let description = format!("change {i}");
        let (patched, rotated) = tokio::join!(
            app.patch(&path, json!({ "description": description })),
            app.post(&rotate, json!({})),
        );
        assert_eq!(patched.status(), 200);
        assert_eq!(rotated.status(), 200);
        let handed_out: Value = rotated.json().await.unwrap();
        let in_force: Value = app
            .get(&format!("{path}/secret"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            in_force["secret"], handed_out["secret"],
            "round {i}: the secret in force is not the one the rotation handed out"
        );
        let stored: Value = app.get(&path).await.json().await.unwrap();
        assert_eq!(stored["description"], description, "round {i}");
    }
    app.shutdown().await;
}

/// An ordered endpoint, created disabled, whose meeting `m` has two skipped messages; the
/// second is then put back to `waiting` with nothing in line, as a disable racing a fan-out
/// on another node leaves it.
async fn stranded_queue(app: &TestApp, receiver: &Receiver) -> (String, Value) {
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/"), "disabled": true}))
        .await;
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let answer = app
        .signals(json!([join("s1", "m", "p1", "2026-01-01T10:00:00Z")]))
        .await;
    assert_eq!(answer.status(), 202);
    let messages = app.messages(&id).await;
    assert_eq!(messages.len(), 2);
    assert!(messages.iter().all(|m| m["status"] == "skipped"));
    let head = messages[1].clone();
    let db = RawDb::of(app).await;
    let changed = db
        .execute(&format!(
            "UPDATE messages SET status = 'waiting' WHERE position = {}",
            position(&db, &head).await
        ))
        .await;
    assert_eq!(changed, 1);
    (id, head)
}

async fn wait_delivered(app: &TestApp, receiver: &Receiver, endpoint_id: &str, head: &Value) {
    eventually_within(
        REPAIR_DEADLINE,
        "the stranded message delivered",
        || async { app.messages(endpoint_id).await[1]["status"] == "succeeded" },
    )
    .await;
    let head_id = head["id"].as_str().unwrap();
    assert!(receiver
        .delivered()
        .iter()
        .any(|r| r.header("webhook-id") == head_id));
}

#[tokio::test]
async fn re_enabling_moves_a_stranded_queue_on() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(200).await;
    let (id, head) = stranded_queue(&app, &receiver).await;
    let enabled = app
        .patch(&format!("/v1/endpoints/{id}"), json!({"disabled": false}))
        .await;
    assert_eq!(enabled.status(), 200);
    wait_delivered(&app, &receiver, &id, &head).await;
    app.shutdown().await;
}

#[tokio::test]
async fn recover_moves_a_stranded_queue_on() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(200).await;
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/"), "disabled": true}))
        .await;
    let id = endpoint["id"].as_str().unwrap().to_owned();
    app.signals(json!([join("s1", "m", "p1", "2026-01-01T10:00:00Z")]))
        .await;
    // Enabled first (nothing waits yet), then stranded: only recover can repair it.
    let enabled = app
        .patch(&format!("/v1/endpoints/{id}"), json!({"disabled": false}))
        .await;
    assert_eq!(enabled.status(), 200);
    let messages = app.messages(&id).await;
    let head = messages[1].clone();
    let db = RawDb::of(&app).await;
    db.execute(&format!(
        "UPDATE messages SET status = 'waiting' WHERE position = {}",
        position(&db, &head).await
    ))
    .await;
    // Nothing was created since: recover re-queues nothing, and still repairs the queue.
    let recovered: Value = app
        .post(
            &format!("/v1/endpoints/{id}/recover"),
            json!({"since": "2100-01-01T00:00:00Z"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(recovered["requeued"], 0);
    wait_delivered(&app, &receiver, &id, &head).await;
    app.shutdown().await;
}

/// An app on SQLite whatever `TEST_STORE` says.
async fn sqlite_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let config = meetinghooks::Config {
        database_url: format!("sqlite://{}", dir.path().join("meetinghooks.db").display()),
        ..delivery_config(dir.path())
    };
    TestApp::spawn_with(dir, config).await
}

#[tokio::test]
async fn sqlite_updates_an_endpoint_in_place() {
    let app = sqlite_app().await;
    let first = app.endpoint(json!({"url": "https://a.example.com/"})).await;
    app.endpoint(json!({"url": "https://b.example.com/"})).await;
    let id = first["id"].as_str().unwrap();
    let raw = RawDb::of(&app).await;
    let rowid = format!("SELECT CAST(rowid AS TEXT) FROM endpoints WHERE id = '{id}'");
    let before = raw.strings(&rowid).await;
    for body in [
        json!({"description": "changed"}),
        json!({"disabled": true}),
        json!({"disabled": false}),
    ] {
        let patched = app.patch(&format!("/v1/endpoints/{id}"), body).await;
        assert_eq!(patched.status(), 200);
        assert_eq!(raw.strings(&rowid).await, before, "the row was replaced");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn sqlite_lists_a_projects_messages_through_messages_by_project() {
    let app = sqlite_app().await;
    let RawDb::Sqlite(conn) = RawDb::of(&app).await else {
        unreachable!("sqlite_app is on SQLite")
    };
    // The shape of `GET /v1/messages` without `endpointId`.
    let plan: Vec<String> = conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT m.position FROM messages m
             JOIN events e ON e.position = m.event_position
             WHERE m.project_id = 'p' AND m.position > 0 ORDER BY m.position LIMIT 100",
        )
        .unwrap()
        .query_map([], |row| row.get("detail"))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert!(
        plan.iter().any(|step| step.contains("messages_by_project")),
        "{plan:?}"
    );
    app.shutdown().await;
}
