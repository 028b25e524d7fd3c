//! Delivery against real receivers: outcomes, ordering, isolation, rotation, recover, resend.

use std::collections::HashMap;
use std::time::Duration;

use meetinghooks_webhooks::Webhook;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::receiver::{Received, Receiver, Reply};

fn joins(meeting: &str, from: usize, count: usize) -> Value {
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
    let app = TestApp::delivering().await;
    // Every third request fails, so retries interleave with new messages. Answers take a
    // moment, so a request sent while another of its meeting is in flight would show.
    let receiver = Receiver::start(|n, _| {
        let status = if n % 3 == 1 { 503 } else { 200 };
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
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_count_attempts_and_latency() {
    // The recorder is process-wide and every in-process app feeds it: count in a process of
    // this test's own, so the figures are exactly this test's attempts.
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let server = Binary::serve(
        dir.path(),
        &[
            ("MEETINGHOOKS_ALLOWED_PRIVATE_TARGETS", "[\"127.0.0.0/8\"]"),
            ("MEETINGHOOKS_RETRY_SCHEDULE", "[\"0s\", \"100ms\"]"),
            ("MEETINGHOOKS_RETRY_JITTER", "0"),
        ],
    );
    server.wait_ready(&client).await;
    let receiver = Receiver::start(|n, _| Reply::Status(if n == 0 { 500 } else { 200 })).await;
    let body = json!({"url": receiver.url("/"), "events": ["session-started"]});
    post_json(&client, &server.url("/v1/endpoints"), body).await;
    post_json(
        &client,
        &server.url("/v1/signals"),
        json!({"signals": joins("metrics", 0, 1)}),
    )
    .await;
    let metrics = || async {
        let response = client.get(server.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    };
    eventually("the success is counted", || async {
        sample(
            &metrics().await,
            "meetinghooks_attempts_total{outcome=\"2xx\"}",
        ) == 1.0
    })
    .await;
    let text = metrics().await;
    assert_eq!(receiver.received().len(), 2);
    assert_eq!(
        sample(&text, "meetinghooks_attempts_total{outcome=\"5xx\"}"),
        1.0,
        "{text}"
    );
    // One latency per success, not per attempt.
    assert_eq!(
        sample(&text, "meetinghooks_delivery_latency_seconds_count"),
        1.0,
        "{text}"
    );
    assert!(
        text.contains("meetinghooks_delivery_latency_seconds_bucket"),
        "{text}"
    );
}

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
    for (i, request) in got.iter().enumerate().skip(10) {
        let earliest = Duration::from_millis(((i as u64 - 9) * 100).saturating_sub(60));
        assert!(
            request.at.duration_since(got[0].at) >= earliest,
            "request {i} too early"
        );
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
