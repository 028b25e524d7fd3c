//! The rate limit holds for every send: the leasing round, promoted messages of an ordered
//! queue, recovered messages, manual resends and test sends.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;
use crate::receiver::{Received, Receiver};

fn joins(meeting: &str, count: usize) -> Value {
    Value::Array(
        (0..count)
            .map(|i| {
                join(
                    &format!("{meeting}-{i}"),
                    meeting,
                    &format!("p{i}"),
                    "2026-01-01T10:00:00Z",
                )
            })
            .collect(),
    )
}

/// A full bucket of `rate` requests, then `rate` a second: request i (from 0) comes no earlier
/// than (i + 1 - rate) / rate seconds after the first, less 150 ms of slack: the first
/// request's own trip may be slow on a loaded machine, which brings the others closer to it.
fn assert_spaced(got: &[Received], rate: u64) {
    let step = 1000 / rate;
    for (i, request) in got.iter().enumerate() {
        let i = i as u64;
        let earliest =
            Duration::from_millis(((i + 1).saturating_sub(rate) * step).saturating_sub(150));
        let at = request.at.duration_since(got[0].at);
        assert!(
            at >= earliest,
            "request {i} came {at:?} after the first, before {earliest:?}"
        );
    }
}

#[tokio::test]
async fn the_rate_limit_applies_to_an_ordered_queue() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(200).await;
    // Default ordering: each message of the meeting is promoted when the one before succeeds.
    app.endpoint(
        json!({"url": receiver.url("/"), "events": ["participant-joined"], "rateLimit": 10}),
    )
    .await;
    app.signals(joins("ordered", 25)).await;
    let got = receiver.wait_for("25 deliveries", |r| r.len() == 25).await;
    let span = got[24].at.duration_since(got[0].at);
    assert!(
        span >= Duration::from_millis(1400),
        "25 requests in {span:?}"
    );
    assert_spaced(&got, 10);
    let sequences: Vec<u64> = got
        .iter()
        .map(|r| r.header("webhook-sequence").parse().unwrap())
        .collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    app.shutdown().await;
}

#[tokio::test]
async fn recovered_messages_take_tokens() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(200).await;
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/"), "events": ["participant-joined"], "rateLimit": 2, "disabled": true}))
        .await;
    let id = endpoint["id"].as_str().unwrap();
    let before = meetinghooks::domain::timestamp::Timestamp::now().to_rfc3339();
    app.signals(joins("recovered", 6)).await;
    let enabled = app
        .patch(&format!("/v1/endpoints/{id}"), json!({"disabled": false}))
        .await;
    assert_eq!(enabled.status(), 200);
    let recovered = app
        .post(
            &format!("/v1/endpoints/{id}/recover"),
            json!({"since": before}),
        )
        .await;
    assert_eq!(recovered.status(), 200);
    let got = receiver.wait_for("6 deliveries", |r| r.len() == 6).await;
    // 2 at once, then 2 a second: the 6th no earlier than 2 s after the first.
    assert_spaced(&got, 2);
    app.shutdown().await;
}

#[tokio::test]
async fn resends_take_a_token() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(200).await;
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/"), "events": ["session-started"], "rateLimit": 1}))
        .await;
    let id = endpoint["id"].as_str().unwrap();
    app.signals(joins("resent", 1)).await;
    let messages = app
        .wait_messages(id, |m| m.len() == 1 && m[0]["status"] == "succeeded")
        .await;
    let message = messages[0]["id"].as_str().unwrap();
    for _ in 0..3 {
        let resent = app
            .post(&format!("/v1/messages/{message}/resend"), json!({}))
            .await;
        assert_eq!(resent.status(), 200);
    }
    let got = receiver.received();
    assert_eq!(got.len(), 4);
    assert_spaced(&got, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn test_sends_take_tokens() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(200).await;
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/"), "events": ["*"], "rateLimit": 1}))
        .await;
    let id = endpoint["id"].as_str().unwrap();
    for _ in 0..3 {
        let sent = app
            .post(
                &format!("/v1/endpoints/{id}/test"),
                json!({"webhookType": "participant-joined"}),
            )
            .await;
        assert!(sent.status().is_success(), "{}", sent.status());
    }
    let got = receiver.wait_for("3 test sends", |r| r.len() == 3).await;
    assert_spaced(&got, 1);
    app.shutdown().await;
}
