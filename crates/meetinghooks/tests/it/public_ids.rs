//! Public ids: `webhook-id`s, event ids and cursors say nothing about volume or about each
//! other, differ between installs, and a guessed id finds nothing.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::receiver::Receiver;

/// One meeting of `count` joins through `app`; the ids of its messages as the receiver got them.
async fn webhook_ids(app: &TestApp, receiver: &Receiver, count: usize) -> Vec<String> {
    app.endpoint(json!({"url": receiver.url("/"), "events": ["participant-joined"]}))
        .await;
    let joins: Vec<Value> = (0..count)
        .map(|i| {
            join(
                &format!("s{i}"),
                "m",
                &format!("p{i}"),
                "2026-01-01T10:00:00Z",
            )
        })
        .collect();
    app.signals(Value::Array(joins)).await;
    let got = receiver.wait_for("every join", |r| r.len() == count).await;
    got.iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect()
}

#[tokio::test]
async fn ids_reveal_nothing_and_differ_between_installs() {
    let first = TestApp::delivering().await;
    let receiver = Receiver::answering(200).await;
    let ids = webhook_ids(&first, &receiver, 3).await;
    for id in &ids {
        let hex = id.strip_prefix("msg_").expect(id);
        assert!(
            hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
    }
    // Consecutive messages share no more than chance would.
    let alike = |a: &str, b: &str| a.chars().zip(b.chars()).filter(|(x, y)| x == y).count();
    assert!(alike(&ids[0][4..], &ids[1][4..]) < 10, "{ids:?}");

    // A second install sends its first message under another id.
    let second = TestApp::delivering().await;
    let other = Receiver::answering(200).await;
    let theirs = webhook_ids(&second, &other, 1).await;
    assert!(!ids.contains(&theirs[0]), "{ids:?} {theirs:?}");

    // The message answers under its id; counting ids finds nothing.
    let found = first.get(&format!("/v1/messages/{}", ids[0])).await;
    assert_eq!(found.status(), 200);
    for guess in ["msg_1", "msg_2", &theirs[0]] {
        let missing = first.get(&format!("/v1/messages/{guess}")).await;
        assert_eq!(missing.status(), 404, "{guess}");
    }
}

#[tokio::test]
async fn cursors_are_opaque_and_refused_when_forged() {
    let app = TestApp::spawn().await;
    let joins: Vec<Value> = (0..3)
        .map(|i| {
            join(
                &format!("s{i}"),
                "c",
                &format!("p{i}"),
                "2026-01-01T10:00:00Z",
            )
        })
        .collect();
    app.signals(Value::Array(joins)).await;
    let page: Value = app
        .get("/v1/events?meetingId=c&limit=1")
        .await
        .json()
        .await
        .unwrap();
    let cursor = page["nextCursor"].as_str().unwrap().to_owned();
    assert!(
        cursor.parse::<i64>().is_err(),
        "a cursor in the clear: {cursor}"
    );
    assert!(page["data"][0]["id"].as_str().unwrap().starts_with("evt_"));
    let next: Value = app
        .get(&format!("/v1/events?meetingId=c&limit=1&after={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(next["data"][0]["id"], page["data"][0]["id"]);
    let forged = app.get("/v1/events?meetingId=c&after=1").await;
    assert_eq!(forged.status(), 400);
}
