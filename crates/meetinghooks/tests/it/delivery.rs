//! Delivery against real receivers: outcomes, retries, ordering under failures, isolation.

use std::collections::HashMap;
use std::time::Duration;

use meetinghooks_webhooks::Webhook;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::receiver::{Received, Receiver, Reply};

/// `count` joins of participants `p{from}`… to `meeting`, one signal each.
pub(crate) fn joins(meeting: &str, from: usize, count: usize) -> Value {
    Value::Array(
        (from..from + count)
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

#[tokio::test]
async fn a_2xx_delivery_is_signed_and_carries_the_stored_bytes() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(204).await;
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/hook"), "events": ["participant-*", "session-started"], "headers": {"X-Tenant": "acme"}}))
        .await;
    let secret = endpoint["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    app.signals(joins("m", 0, 1)).await;

    let got = receiver.wait_for("two deliveries", |r| r.len() == 2).await;
    let events = app.events("m").await;
    let stored = raw_payloads(&app, "m").await;
    let webhook = Webhook::new(secret).unwrap();
    for ((request, event), payload) in got.iter().zip(&events).zip(&stored) {
        // The body is exactly the stored payload; the signature verifies.
        assert_eq!(request.body, payload.as_bytes());
        webhook.verify(&request.headers, &request.body).unwrap();
        assert_eq!(request.header("content-type"), "application/json");
        assert!(request.header("user-agent").starts_with("meetinghooks/"));
        assert_eq!(request.header("x-tenant"), "acme");
        assert_eq!(
            request.header("webhook-sequence"),
            event["sequence"].to_string()
        );
        assert!(request.header("webhook-id").starts_with("msg_"));
    }
    let id = endpoint["id"].as_str().unwrap();
    app.wait_messages(id, |m| m.iter().all(|m| m["status"] == "succeeded"))
        .await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_response_body_with_nul_is_logged_and_delivery_goes_on() {
    let app = TestApp::delivering().await;
    // PostgreSQL text cannot hold NUL: the log must still take the answer.
    let receiver = Receiver::start(|n, _| match n {
        0 => Reply::Body(500, b"bad\0body".to_vec()),
        _ => Reply::Status(200),
    })
    .await;
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/"), "events": ["session-started"]}))
        .await;
    let id = endpoint["id"].as_str().unwrap();
    app.signals(joins("m", 0, 1)).await;
    let messages = app
        .wait_messages(id, |m| m.len() == 1 && m[0]["status"] == "succeeded")
        .await;
    let log = attempts(&app, messages[0]["id"].as_str().unwrap()).await;
    assert_eq!(log[0]["responseBody"], "bad\u{FFFD}body");
    assert_eq!(log[1]["statusCode"], 200);
    app.shutdown().await;
}

#[tokio::test]
async fn failures_are_retried_on_schedule_until_exhausted() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(500).await;
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/"), "events": ["session-started"]}))
        .await;
    let id = endpoint["id"].as_str().unwrap();
    app.signals(joins("m", 0, 1)).await;
    let messages = app
        .wait_messages(id, |m| m.len() == 1 && m[0]["status"] == "exhausted")
        .await;
    let got = receiver.received();
    // The schedule has four entries: four attempts, one webhook-id, 200 ms and 400 ms apart.
    assert_eq!(got.len(), 4);
    assert!(got
        .iter()
        .all(|r| r.header("webhook-id") == messages[0]["id"]));
    let gaps: Vec<u128> = got
        .windows(2)
        .map(|w| w[1].at.duration_since(w[0].at).as_millis())
        .collect();
    assert!(
        gaps[0] >= 190 && gaps[1] >= 390 && gaps[2] >= 390,
        "{gaps:?}"
    );
    let log = attempts(&app, messages[0]["id"].as_str().unwrap()).await;
    assert_eq!(log.len(), 4);
    assert!(log
        .iter()
        .all(|a| a["statusCode"] == 500 && a["responseBody"] == "ok"));
    app.shutdown().await;
}

#[tokio::test]
async fn redirects_are_failures_and_are_not_followed() {
    let app = TestApp::delivering().await;
    let target = Receiver::answering(200).await;
    let location = target.url("/elsewhere");
    let receiver =
        Receiver::start(move |_, _| Reply::WithHeaders(302, vec![("location", location.clone())]))
            .await;
    let endpoint = app
        .endpoint(
            json!({"url": receiver.url("/"), "events": ["session-started"], "retrySchedule": [0]}),
        )
        .await;
    app.signals(joins("m", 0, 1)).await;
    let messages = app
        .wait_messages(endpoint["id"].as_str().unwrap(), |m| {
            m[0]["status"] == "exhausted"
        })
        .await;
    assert_eq!(messages[0]["lastStatusCode"], 302);
    assert!(target.received().is_empty(), "the redirect was followed");
    app.shutdown().await;
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_keeps_later_messages_as_skipped() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(410).await;
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/"), "events": ["*"]}))
        .await;
    let id = endpoint["id"].as_str().unwrap();
    app.signals(joins("m", 0, 2)).await;
    let messages = app
        .wait_messages(id, |m| m.len() == 3 && m[0]["status"] == "failed")
        .await;
    assert!(
        messages[1..].iter().all(|m| m["status"] == "skipped"),
        "{messages:#?}"
    );
    let endpoint: Value = app
        .get(&format!("/v1/endpoints/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(endpoint["disabled"], true);
    assert!(endpoint["disabledReason"].as_str().unwrap().contains("410"));
    assert_eq!(receiver.received().len(), 1);
    // New events for a disabled endpoint are kept, as skipped.
    app.signals(joins("m", 2, 1)).await;
    let messages = app.messages(id).await;
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[3]["status"], "skipped");
    app.shutdown().await;
}

#[tokio::test]
async fn retry_after_delays_the_next_attempt() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::start(|n, _| {
        if n == 0 {
            Reply::WithHeaders(429, vec![("retry-after", "1".into())])
        } else {
            Reply::Status(200)
        }
    })
    .await;
    // Retry-After is capped at the schedule's longest delay, here 5 s.
    app.endpoint(json!({"url": receiver.url("/"), "events": ["session-started"], "retrySchedule": [0, 0.2, 5]}))
        .await;
    app.signals(joins("m", 0, 1)).await;
    let got = receiver.wait_for("the retry", |r| r.len() == 2).await;
    // The schedule alone would retry after 200 ms.
    assert!(got[1].at.duration_since(got[0].at) >= Duration::from_millis(990));
    app.shutdown().await;
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_named_in_the_attempt_log() {
    let app = TestApp::delivering().await;
    let hole = Receiver::start(|_, _| Reply::Hang).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let slow = app.endpoint(json!({"url": hole.url("/"), "events": ["session-started"], "retrySchedule": [0], "timeoutSeconds": 1})).await;
    let refused = app.endpoint(json!({"url": format!("http://{closed}/"), "events": ["session-started"], "retrySchedule": [0]})).await;
    app.signals(joins("m", 0, 1)).await;
    for (endpoint, kind) in [(&slow, "timeout"), (&refused, "connect")] {
        let id = endpoint["id"].as_str().unwrap();
        let messages = app
            .wait_messages(id, |m| m.len() == 1 && m[0]["status"] == "exhausted")
            .await;
        let log = attempts(&app, messages[0]["id"].as_str().unwrap()).await;
        assert_eq!(log[0]["errorKind"], kind, "{log:#?}");
        assert_eq!(log[0]["statusCode"], Value::Null);
    }
    app.shutdown().await;
}

#[tokio::test]
async fn per_meeting_order_holds_under_failures() {
    // A timeout would make a retry legitimately overlap a late answer; on a loaded machine a
    // 15 ms answer can take a second, so the timeout here is far above that.
    let app = TestApp::delivering_with(|c| c.request_timeout = Duration::from_secs(10)).await;
    // Every third request fails if it is a first attempt, so retries interleave with new
    // messages and none runs out of attempts (which would leave fewer than 60 successes).
    // Answers take a moment, so a request sent while another of its meeting is in flight
    // would show.
    let receiver = Receiver::start(|n, request| {
        let first = request.header("webhook-attempt") == "1";
        let status = if n % 3 == 1 && first { 503 } else { 200 };
        Reply::After(Duration::from_millis(15), status)
    })
    .await;
    app.endpoint(json!({"url": receiver.url("/"), "events": ["participant-joined"]}))
        .await;
    for round in 0..5 {
        for m in ["a", "b", "c"] {
            app.signals(joins(m, round * 4, 4)).await;
        }
    }
    let got = receiver
        .wait_for("60 deliveries", |r| {
            r.iter().filter(|r| r.answered == Some(200)).count() == 60
        })
        .await;
    assert!(
        got.iter().any(|r| r.answered == Some(503)),
        "no failure was answered"
    );
    let mut last: HashMap<String, u64> = HashMap::new();
    for request in got.iter().filter(|r| r.answered == Some(200)) {
        let meeting = request.json()["data"]["meetingId"]
            .as_str()
            .unwrap()
            .to_owned();
        let sequence: u64 = request.header("webhook-sequence").parse().unwrap();
        let previous = last.insert(meeting.clone(), sequence).unwrap_or(1);
        assert!(
            sequence > previous,
            "{meeting}: {sequence} after {previous}"
        );
    }
    // Nothing was sent while an earlier request of the same meeting was still unanswered:
    // each request arrived after the previous one of its meeting had been answered.
    let mut previous: HashMap<String, &Received> = HashMap::new();
    for request in &got {
        let meeting = request.json()["data"]["meetingId"]
            .as_str()
            .unwrap()
            .to_owned();
        if let Some(before) = previous.insert(meeting.clone(), request) {
            let answered = before.answered_at.expect("every request was answered");
            assert!(
                answered <= request.at,
                "{meeting}: sequence {} was sent before sequence {} was answered",
                request.header("webhook-sequence"),
                before.header("webhook-sequence"),
            );
        }
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_black_holed_endpoint_does_not_slow_the_others() {
    let app = TestApp::delivering_with(|c| c.request_timeout = Duration::from_secs(30)).await;
    let hole = Receiver::start(|_, _| Reply::Hang).await;
    let healthy = Receiver::answering(200).await;
    app.endpoint(json!({"url": hole.url("/"), "events": ["*"], "ordering": "none"}))
        .await;
    app.endpoint(json!({"url": healthy.url("/"), "events": ["*"], "ordering": "none"}))
        .await;
    for m in 0..10 {
        app.signals(joins(&format!("iso{m}"), 0, 10)).await;
    }
    // 10 meetings × (session-started + 10 joins), all delivered while the hole holds its slots.
    healthy
        .wait_for("all deliveries to the healthy endpoint", |r| r.len() == 110)
        .await;
    let held = hole.received().len();
    assert!(
        held > 0 && held <= 64,
        "the black hole holds at most its own slots: {held}"
    );
    app.shutdown_now().await;
}

#[tokio::test]
async fn a_stuck_meeting_does_not_delay_other_meetings() {
    let app = TestApp::delivering_with(|c| {
        c.retry_schedule = [0, 60_000].map(Duration::from_millis).to_vec();
    })
    .await;
    let receiver = Receiver::start(|_, r| {
        let stuck = r.json()["data"]["meetingId"] == "stuck";
        Reply::Status(if stuck { 500 } else { 200 })
    })
    .await;
    app.endpoint(json!({"url": receiver.url("/"), "events": ["*"]}))
        .await;
    app.signals(joins("stuck", 0, 5)).await;
    app.signals(joins("fine", 0, 5)).await;
    receiver
        .wait_for("the other meeting in full", |r| {
            r.iter()
                .filter(|r| r.json()["data"]["meetingId"] == "fine")
                .count()
                == 6
        })
        .await;
    // The stuck meeting got one attempt for its first message and waits for its retry.
    let stuck = receiver
        .received()
        .iter()
        .filter(|r| r.json()["data"]["meetingId"] == "stuck")
        .count();
    assert_eq!(stuck, 1);
    app.shutdown_now().await;
}
