//! PostgreSQL takes row locks in one order everywhere: projects, rooms (sorted), endpoints
//! (sorted), messages. Each test holds one lock in a raw transaction, starts a request that
//! must wait for it, and checks that the request holds nothing later in the order meanwhile.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{delivery_config, eventually_within, fresh_postgres_database, join, TestApp};
use crate::raw_db::{position, RawDb};
use crate::receiver::Receiver;

/// An app on a fresh PostgreSQL database, whatever `TEST_STORE` says.
async fn postgres_app() -> TestApp {
    let url = fresh_postgres_database()
        .await
        .expect("has_postgres is set, so TEST_POSTGRES_URL is");
    let dir = tempfile::tempdir().unwrap();
    let config = meetinghooks::Config {
        database_url: url,
        ..delivery_config(dir.path())
    };
    TestApp::spawn_with(dir, config).await
}

/// Waits until some session of the app's database waits for a row lock.
async fn wait_for_a_lock_wait(raw: &RawDb) {
    eventually_within(
        Duration::from_secs(10),
        "a request waiting on a lock",
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
}

/// Runs `sql` in its own transaction and rolls it back; the error text if it failed.
async fn try_lock(url: &str, sql: &str) -> Result<(), String> {
    let RawDb::Postgres(client) = RawDb::open(url).await else {
        unreachable!("a postgres:// URL")
    };
    client.batch_execute("BEGIN").await.unwrap();
    let result = client.batch_execute(sql).await.map_err(|e| {
        e.as_db_error()
            .map_or_else(|| e.to_string(), |db| db.code().code().to_owned())
    });
    client.batch_execute("ROLLBACK").await.unwrap();
    result
}

#[tokio::test]
#[cfg_attr(not(has_postgres), ignore = "needs TEST_POSTGRES_URL")]
async fn re_enabling_locks_rooms_before_the_endpoint() {
    let app = postgres_app().await;
    let receiver = Receiver::answering(200).await;
    let url = app.config.database_url.clone();
    // A stranded queue: the endpoint disabled, meeting m's second message waiting.
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/"), "disabled": true}))
        .await;
    let id = endpoint["id"].as_str().unwrap().to_owned();
    app.signals(json!([join("s1", "m", "p1", "2026-01-01T10:00:00Z")]))
        .await;
    let head = app.messages(&id).await[1].clone();
    let raw = RawDb::open(&url).await;
    raw.execute(&format!(
        "UPDATE messages SET status = 'waiting' WHERE position = {}",
        position(&raw, &head).await
    ))
    .await;

    // T1 holds the meeting's room.
    let RawDb::Postgres(t1) = RawDb::open(&url).await else {
        unreachable!()
    };
    t1.batch_execute("BEGIN; SELECT 1 FROM rooms WHERE room_id = 'm' FOR UPDATE")
        .await
        .unwrap();
    let enable = tokio::spawn({
        let (client, url, key) = (
            app.client.clone(),
            app.url(&format!("/v1/endpoints/{id}")),
            app.key.clone(),
        );
        async move {
            client
                .patch(url)
                .bearer_auth(key)
                .json(&json!({"disabled": false}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    wait_for_a_lock_wait(&raw).await;
    // While the update waits for the room, it must not hold the endpoint.
    let endpoint_lock = try_lock(
        &url,
        &format!("SELECT 1 FROM endpoints WHERE id = '{id}' FOR UPDATE NOWAIT"),
    )
    .await;
    t1.batch_execute("COMMIT").await.unwrap();
    assert_eq!(enable.await.unwrap(), 200);
    assert_eq!(
        endpoint_lock,
        Ok(()),
        "the update held the endpoint while it waited for the room (55P03: lock not available)"
    );
    let head_id = head["id"].as_str().unwrap().to_owned();
    eventually_within(
        Duration::from_secs(10),
        "the stranded message delivered",
        || {
            let delivered = receiver
                .delivered()
                .iter()
                .any(|r| r.header("webhook-id") == head_id);
            async move { delivered }
        },
    )
    .await;
    app.shutdown().await;
}

#[tokio::test]
#[cfg_attr(not(has_postgres), ignore = "needs TEST_POSTGRES_URL")]
async fn a_room_webhook_upsert_locks_the_project_before_the_room() {
    let app = postgres_app().await;
    let url = app.config.database_url.clone();
    let created = app.post("/v2/rooms", json!({"customRoomId": "m"})).await;
    assert!(created.status().is_success(), "{:?}", created.text().await);
    let raw = RawDb::open(&url).await;

    // T1 holds the project.
    let RawDb::Postgres(t1) = RawDb::open(&url).await else {
        unreachable!()
    };
    t1.batch_execute("BEGIN; SELECT 1 FROM projects FOR UPDATE")
        .await
        .unwrap();
    let upsert = tokio::spawn({
        let (client, url, key) = (app.client.clone(), app.url("/v2/rooms"), app.key.clone());
        async move {
            let response = client
                .post(url)
                .bearer_auth(key)
                .json(&json!({"customRoomId": "m",
                    "webhook": {"endPoint": "https://hooks.example.com/m", "events": ["*"]}}))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            (status, body)
        }
    });
    wait_for_a_lock_wait(&raw).await;
    // While the upsert waits for the project, it must not hold the room.
    let room_lock = try_lock(
        &url,
        "SELECT 1 FROM rooms WHERE room_id = 'm' FOR UPDATE NOWAIT",
    )
    .await;
    t1.batch_execute("COMMIT").await.unwrap();
    let (status, body) = upsert.await.unwrap();
    assert!(status.is_success(), "{status} {body}");
    assert_eq!(
        room_lock,
        Ok(()),
        "the upsert held the room while it waited for the project (55P03: lock not available)"
    );
    app.shutdown().await;
}

/// CI sets `TEST_POSTGRES_URL` before building, so no PostgreSQL test is ignored there.
#[test]
fn ci_runs_the_postgres_tests() {
    let built_with_postgres = cfg!(has_postgres);
    if std::env::var_os("CI").is_some() {
        assert!(
            built_with_postgres,
            "CI must set TEST_POSTGRES_URL before cargo builds the tests (see .ci/run)"
        );
    }
}
