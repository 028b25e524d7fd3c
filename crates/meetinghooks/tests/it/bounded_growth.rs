//! Bounded growth: signal ids are remembered for `signal_dedup_window` and then forgotten,
//! and a deleted endpoint's attempts go with it, even one in flight at the time.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{TestApp, TEST_DEADLINE};
use crate::raw_db::RawDb;
use crate::receiver::{Receiver, Reply};

const WINDOW: Duration = Duration::from_secs(2);

async fn report(app: &TestApp, signal: Value) -> Value {
    let response = app.signals(json!([signal])).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_signal_id_is_a_duplicate_within_the_window_and_new_after_it() {
    let app = TestApp::delivering_with(|c| c.signal_dedup_window = WINDOW).await;
    let joined = json!({"id": "w-1", "type": "participant.joined", "meetingId": "m-window",
                        "participantId": "p1", "participantName": "Ada"});
    let sent = Instant::now();
    assert_eq!(report(&app, joined.clone()).await["accepted"], 1);
    assert_eq!(report(&app, joined).await["duplicates"], 1);

    // The same id on another signal: a duplicate until the window has passed, then new.
    let left = json!({"id": "w-1", "type": "participant.left", "meetingId": "m-window",
                      "participantId": "p1", "reason": "left"});
    let accepted_after = loop {
        let answer = report(&app, left.clone()).await;
        if answer["accepted"] == 1 {
            break sent.elapsed();
        }
        assert_eq!(answer["duplicates"], 1, "{answer}");
        assert!(sent.elapsed() < TEST_DEADLINE, "the id was never forgotten");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        accepted_after >= WINDOW,
        "forgotten after {accepted_after:?}, inside the {WINDOW:?} window"
    );
    let types: Vec<Value> = app
        .events("m-window")
        .await
        .iter()
        .map(|e| e["webhookType"].clone())
        .collect();
    assert!(types.contains(&json!("participant-left")), "{types:?}");
}

#[tokio::test]
async fn deleting_an_endpoint_deletes_its_attempts_even_one_in_flight() {
    // The first attempt fails at once; the retry is still being answered when the endpoint
    // is deleted, and its outcome is written after the deletion.
    // The retry's answer takes 4 s, well inside its timeout and the shutdown grace, so its
    // outcome cannot be written before the deletion even on a slow machine.
    let receiver = Receiver::start(|n, _| match n {
        0 => Reply::Status(500),
        _ => Reply::After(Duration::from_secs(4), 500),
    })
    .await;
    let app = TestApp::delivering_with(|c| {
        c.request_timeout = Duration::from_secs(10);
        c.shutdown_grace = Duration::from_secs(10);
    })
    .await;
    let database_url = app.config.database_url.clone();
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/hooks"), "events": ["*"]}))
        .await;
    let endpoint_id = endpoint["id"].as_str().unwrap();
    let joined = json!({"id": "d-1", "type": "participant.joined", "meetingId": "m-delete",
                        "participantId": "p1", "participantName": "Ada"});
    report(&app, joined).await;
    receiver
        .wait_for("the retry is in flight", |r| r.len() >= 2)
        .await;
    let message = app.messages(endpoint_id).await[0].clone();
    let attempts_path = format!("/v1/messages/{}/attempts", message["id"].as_str().unwrap());
    let recorded: Value = app.get(&attempts_path).await.json().await.unwrap();
    assert_eq!(recorded["data"].as_array().unwrap().len(), 1, "{recorded}");

    let deleted = app
        .client
        .delete(app.url(&format!("/v1/endpoints/{endpoint_id}")))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    // A graceful stop waits for the attempt in flight and writes its outcome.
    let _dir = app.shutdown().await;
    assert_eq!(receiver.received().len(), 2);

    let db = RawDb::open(&database_url).await;
    let count = |table: &str| format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table}");
    assert_eq!(db.strings(&count("messages")).await, ["0"]);
    assert_eq!(db.strings(&count("attempts")).await, ["0"]);
}

/// PostgreSQL: with every pooled connection held up (here the one there is, waiting on a
/// meeting's row lock), a request is refused with 503 `overloaded` and `Retry-After` after
/// the pool's wait, and the write that held the connection still commits.
#[tokio::test]
#[cfg_attr(not(has_postgres), ignore = "needs TEST_POSTGRES_URL")]
async fn a_busy_database_answers_503_overloaded_with_retry_after() {
    let Some(database_url) = crate::helpers::fresh_postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = meetinghooks::Config {
        database_url: database_url.clone(),
        database_max_connections: 1,
        ..crate::helpers::test_config(dir.path())
    };
    let app = TestApp::spawn_with(dir, config).await;
    let joined = |id: &str, participant: &str| {
        json!({"id": id, "type": "participant.joined", "meetingId": "m-busy",
               "participantId": participant, "participantName": "Ada"})
    };
    report(&app, joined("b-1", "p1")).await;

    let (mut db, connection) = tokio_postgres::connect(&database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let lock = db.transaction().await.unwrap();
    lock.execute(
        "SELECT 1 FROM rooms WHERE room_id = 'm-busy' FOR UPDATE",
        &[],
    )
    .await
    .unwrap();
    let held = tokio::spawn({
        let (client, url, key) = (app.client.clone(), app.url("/v1/signals"), app.key.clone());
        let body = json!({"signals": [joined("b-2", "p2")]});
        async move {
            let response = client.post(url).bearer_auth(key).json(&body).send().await;
            response.unwrap().status()
        }
    });
    let refused = loop {
        let response = app.get("/v1/events?meetingId=m-busy").await;
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            break response;
        }
        assert!(!held.is_finished(), "the ingest was not held up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "overloaded", "{body}");

    lock.commit().await.unwrap();
    assert_eq!(held.await.unwrap(), StatusCode::ACCEPTED);
    let joins = app
        .events("m-busy")
        .await
        .iter()
        .filter(|e| e["webhookType"] == "participant-joined")
        .count();
    assert_eq!(joins, 2);
}
