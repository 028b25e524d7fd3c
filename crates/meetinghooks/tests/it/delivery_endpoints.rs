//! Delivery under an endpoint's settings and operations: secret rotation, recover and resend,
//! a room's own webhook, auto-disable, the rate limit, switching to meeting ordering.

use std::time::Duration;

use meetinghooks_webhooks::Webhook;
use serde_json::{json, Value};

use crate::delivery::joins;
use crate::helpers::*;
use crate::receiver::{Receiver, Reply};

#[tokio::test]
async fn rotation_signs_with_both_secrets_then_only_the_new_one() {
    let app =
        TestApp::delivering_with(|c| c.secret_rotation_overlap = Duration::from_millis(1500)).await;
    let receiver = Receiver::answering(200).await;
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/"), "events": ["*"]}))
        .await;
    let id = endpoint["id"].as_str().unwrap();
    let old = Webhook::new(endpoint["secret"].as_str().unwrap()).unwrap();
    let rotated: Value = app
        .post(&format!("/v1/endpoints/{id}/secret/rotate"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let new = Webhook::new(rotated["secret"].as_str().unwrap()).unwrap();

    app.post(
        &format!("/v1/endpoints/{id}/test"),
        json!({"webhookType": "recording-started"}),
    )
    .await;
    let got = receiver.wait_for("the test send", |r| r.len() == 1).await;
    assert_eq!(got[0].header("webhook-signature").split(' ').count(), 2);
    old.verify(&got[0].headers, &got[0].body).unwrap();
    new.verify(&got[0].headers, &got[0].body).unwrap();

    // After the overlap only the new secret signs.
    let mut sent = 1;
    let last = loop {
        app.post(
            &format!("/v1/endpoints/{id}/test"),
            json!({"webhookType": "hls-stopped"}),
        )
        .await;
        sent += 1;
        let got = receiver
            .wait_for("the next test send", |r| r.len() == sent)
            .await;
        let last = got.last().unwrap().clone();
        if last.header("webhook-signature").split(' ').count() == 1 {
            break last;
        }
        assert!(sent < 200, "the old secret never stopped signing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    new.verify(&last.headers, &last.body).unwrap();
    assert!(old.verify(&last.headers, &last.body).is_err());
    app.shutdown().await;
}

#[tokio::test]
async fn recover_requeues_in_order_and_resend_keeps_the_webhook_id() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(200).await;
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/"), "events": ["*"], "disabled": true}))
        .await;
    let id = endpoint["id"].as_str().unwrap();
    let before = meetinghooks::domain::timestamp::Timestamp::now().to_rfc3339();
    app.signals(joins("r", 0, 4)).await;
    let skipped = app.messages(id).await;
    assert_eq!(skipped.len(), 5);
    assert!(skipped.iter().all(|m| m["status"] == "skipped"));
    assert!(receiver.received().is_empty());

    let enabled = app
        .patch(&format!("/v1/endpoints/{id}"), json!({"disabled": false}))
        .await;
    assert_eq!(enabled.status(), 200);
    let recovered: Value = app
        .post(
            &format!("/v1/endpoints/{id}/recover"),
            json!({"since": before}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(recovered["requeued"], 5);
    let got = receiver
        .wait_for("the recovered messages", |r| r.len() == 5)
        .await;
    let sequences: Vec<&str> = got.iter().map(|r| r.header("webhook-sequence")).collect();
    assert_eq!(sequences, ["1", "2", "3", "4", "5"]);

    let first = skipped[0]["id"].as_str().unwrap();
    app.wait_messages(id, |m| m.iter().all(|m| m["status"] == "succeeded"))
        .await;
    let attempt: Value = app
        .post(&format!("/v1/messages/{first}/resend"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(attempt["statusCode"], 200);
    let got = receiver.received();
    assert_eq!(got.len(), 6);
    assert_eq!(got[5].header("webhook-id"), first);
    assert_eq!(got[5].body, got[0].body);
    assert_eq!(attempts(&app, first).await.len(), 2);
    app.shutdown().await;
}

#[tokio::test]
async fn the_rooms_own_webhook_is_signed_with_the_room_secret() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(200).await;
    let room = app
        .post("/v2/rooms", json!({"customRoomId": "with-hook", "webhook": {"endPoint": receiver.url("/room"), "events": ["session-*"]}}))
        .await;
    assert_eq!(room.status(), 201);
    app.signals(joins("other-room", 0, 1)).await;
    app.signals(json!([
        join("w1", "with-hook", "p", "2026-01-01T10:00:00Z"),
        leave("w2", "with-hook", "p", "left", "2026-01-01T10:00:01Z")
    ]))
    .await;
    let got = receiver
        .wait_for("session-started and session-ended", |r| r.len() == 2)
        .await;
    let secret: Value = app
        .get("/v1/room-webhooks/secret")
        .await
        .json()
        .await
        .unwrap();
    let webhook = Webhook::new(secret["secret"].as_str().unwrap()).unwrap();
    let types: Vec<_> = got
        .iter()
        .map(|r| {
            webhook
                .verify(&r.headers, &r.body)
                .unwrap()
                .webhook_type()
                .as_str()
        })
        .collect();
    assert_eq!(types, ["session-started", "session-ended"]);
    assert!(got
        .iter()
        .all(|r| r.json()["data"]["meetingId"] == "with-hook"));
    app.shutdown().await;
}

/// The value of one sample line of a Prometheus text page, 0 when absent.
#[tokio::test]
async fn an_endpoint_without_success_for_too_long_is_disabled_with_a_reason() {
    let app = TestApp::delivering_with(|c| {
        c.retry_schedule = [0, 300, 300, 300].map(Duration::from_millis).to_vec();
        c.auto_disable_after = Duration::from_millis(500);
    })
    .await;
    let receiver = Receiver::answering(500).await;
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/"), "events": ["session-started"]}))
        .await;
    let id = endpoint["id"].as_str().unwrap();
    app.signals(joins("m", 0, 1)).await;
    let messages = app.wait_messages(id, |m| m[0]["status"] == "skipped").await;
    assert_eq!(messages[0]["attempts"], 3);
    let endpoint: Value = app
        .get(&format!("/v1/endpoints/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(endpoint["disabled"], true);
    assert!(endpoint["disabledReason"]
        .as_str()
        .unwrap()
        .starts_with("no successful delivery since"));
    app.shutdown().await;
}

#[tokio::test]
async fn the_rate_limit_spaces_deliveries() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(200).await;
    app.endpoint(json!({"url": receiver.url("/"), "events": ["participant-joined"], "ordering": "none", "rateLimit": 10})).await;
    app.signals(joins("rl", 0, 25)).await;
    let got = receiver.wait_for("25 deliveries", |r| r.len() == 25).await;
    // A full bucket of 10, then 10 per second: the 25th cannot come before 1.5 s.
    let span = got[24].at.duration_since(got[0].at);
    assert!(span >= Duration::from_millis(1400), "{span:?}");
    // In any stretch of time, at most the bucket plus what refilled in it, plus one. Arrivals
    // may bunch up by the receiver's own delays (150 ms of slack), and no single arrival is
    // the reference: the first one may come late on a fresh connection.
    for (i, first) in got.iter().enumerate() {
        for (j, last) in got.iter().enumerate().skip(i + 1) {
            let stretch = last.at.duration_since(first.at) + Duration::from_millis(150);
            let allowed = 10 + stretch.as_millis() as usize / 100 + 1;
            assert!(
                j - i < allowed,
                "requests {i}..={j} came within {stretch:?}: over the rate"
            );
        }
    }
    app.shutdown().await;
}

#[tokio::test]
async fn switching_to_meeting_ordering_never_strands_a_queue() {
    let app = TestApp::delivering_with(|c| {
        c.retry_schedule = [0, 60_000].map(Duration::from_millis).to_vec();
    })
    .await;
    let receiver = Receiver::start(|n, _| Reply::Status(if n == 0 { 500 } else { 200 })).await;
    let endpoint = app
        .endpoint(
            json!({"url": receiver.url("/"), "events": ["participant-joined"], "ordering": "none"}),
        )
        .await;
    let id = endpoint["id"].as_str().unwrap();
    app.signals(joins("q", 0, 1)).await;
    let first = app.wait_messages(id, |m| m[0]["attempts"] == 1).await;
    // Now ordered: the next message of the meeting waits behind the unordered one.
    app.patch(
        &format!("/v1/endpoints/{id}"),
        json!({"ordering": "meeting"}),
    )
    .await;
    app.signals(joins("q", 1, 1)).await;
    assert_eq!(app.messages(id).await[1]["status"], "waiting");
    // When the first one is done, the waiting one goes out.
    let resent = app
        .post(
            &format!("/v1/messages/{}/resend", first[0]["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(resent.status(), 200);
    app.wait_messages(id, |m| {
        m.len() == 2 && m.iter().all(|m| m["status"] == "succeeded")
    })
    .await;
    app.shutdown().await;
}
