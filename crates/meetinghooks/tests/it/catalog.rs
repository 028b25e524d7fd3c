//! The whole catalog end to end: a meeting that sends every media signal through the real
//! API, delivered to real receivers, every payload compared byte for byte.

use meetinghooks_webhooks::{Event, Webhook, WebhookType};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::receiver::Receiver;

const M: &str = "jvsg-8rjn-j304";
const HLS: &str = "https://cdn.example.com/meetings-hls/b8a770ef/index.m3u8";
const HLS_LIVE: &str = "https://cdn.example.com/meetings-hls/b8a770ef/live.m3u8";
const FILE_PATH: &str = "/encoded/videos/62d148951a1eb20029fc9b05.mp4";
const FILE_URL: &str = "https://cdn.example.com/encoded/videos/62d148951a1eb20029fc9b05.mp4";

fn at(second: u32) -> String {
    format!("2026-01-01T10:00:{second:02}.000Z")
}

/// A signal of `type` at `second`, with `fields` merged in.
fn signal(id: &str, type_name: &str, second: u32, fields: Value) -> Value {
    let mut signal = json!({"id": id, "type": type_name, "meetingId": M, "at": at(second)});
    signal
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    signal
}

fn files(name: &str) -> Value {
    json!([{"filePath": format!("/participants/{name}"),
            "fileUrl": format!("https://cdn.example.com/participants/{name}")}])
}

/// Every signal type but the two participant ones, in an order that walks every path.
fn media_signals() -> Vec<Value> {
    let p = json!({"participantId": "fkd74h"});
    let with = |extra: Value| {
        let mut v = p.clone();
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    vec![
        signal("r1", "recording.starting", 1, json!({})),
        signal(
            "r2",
            "recording.started",
            2,
            json!({"filePath": "/tmp/draft.mp4"}),
        ),
        signal("r3", "recording.stopping", 3, json!({})),
        signal(
            "r4",
            "recording.stopped",
            4,
            json!({"filePath": FILE_PATH, "fileUrl": FILE_URL}),
        ),
        signal(
            "r5",
            "recording.starting",
            5,
            json!({"fileId": "0123456789abcdef01234567"}),
        ),
        signal("r6", "recording.failed", 6, json!({})),
        signal("l1", "livestream.starting", 7, json!({})),
        signal("l2", "livestream.started", 8, json!({})),
        signal("l3", "livestream.stopping", 9, json!({})),
        signal("l4", "livestream.stopped", 10, json!({})),
        signal("l5", "livestream.starting", 11, json!({})),
        signal("l6", "livestream.failed", 12, json!({})),
        signal("h1", "hls.starting", 13, json!({})),
        signal("h2", "hls.started", 14, json!({"playbackHlsUrl": HLS})),
        signal(
            "h3",
            "hls.playable",
            15,
            json!({"playbackHlsUrl": HLS, "livestreamUrl": HLS_LIVE}),
        ),
        signal("h4", "hls.stopping", 16, json!({})),
        signal("h5", "hls.stopped", 17, json!({})),
        signal("h6", "hls.starting", 18, json!({})),
        signal("h7", "hls.failed", 19, json!({})),
        signal(
            "pr1",
            "participant-recording.starting",
            20,
            with(json!({"fileFormat": "webm"})),
        ),
        signal(
            "pr2",
            "participant-recording.started",
            21,
            with(json!({"fileFormat": "webm"})),
        ),
        signal("pr3", "participant-recording.stopping", 22, p.clone()),
        signal(
            "pr4",
            "participant-recording.stopped",
            23,
            with(json!({"fileDetails": files("a.webm")})),
        ),
        signal(
            "pr5",
            "participant-recording.starting",
            24,
            with(json!({"fileFormat": "mp4"})),
        ),
        signal("pr6", "participant-recording.failed", 25, p.clone()),
        signal(
            "t1",
            "participant-track-recording.starting",
            26,
            with(json!({"kind": "audio"})),
        ),
        signal(
            "t2",
            "participant-track-recording.started",
            27,
            with(json!({"kind": "audio"})),
        ),
        signal(
            "t3",
            "participant-track-recording.stopping",
            28,
            with(json!({"kind": "audio"})),
        ),
        signal(
            "t4",
            "participant-track-recording.stopped",
            29,
            with(json!({"kind": "audio", "fileDetails": files("a.ogg")})),
        ),
        signal(
            "t5",
            "participant-track-recording.starting",
            30,
            with(json!({"kind": "video"})),
        ),
        signal(
            "t6",
            "participant-track-recording.failed",
            31,
            with(json!({"kind": "video"})),
        ),
        // Skipped phases: playable first (hls-started comes with it), a track started
        // directly, and a stopping of nothing.
        signal("s1", "hls.playable", 32, json!({"playbackHlsUrl": HLS})),
        signal(
            "s2",
            "participant-track-recording.started",
            33,
            with(json!({"kind": "video"})),
        ),
        signal("s3", "livestream.stopping", 34, json!({})),
    ]
}

/// The payloads the meeting must produce, in order: (webhookType, fields after sessionId).
fn expected_events() -> Vec<(&'static str, String)> {
    let p = r#","participantId":"fkd74h""#;
    let none = String::new();
    let file = |name: &str| {
        format!(
            r#","fileDetails":[{{"filePath":"/participants/{name}","fileUrl":"https://cdn.example.com/participants/{name}"}}]"#
        )
    };
    vec![
        (
            "participant-joined",
            format!(r#"{p},"participantName":"John""#),
        ),
        ("recording-starting", none.clone()),
        ("recording-started", none.clone()),
        ("recording-stopping", none.clone()),
        (
            "recording-stopped",
            format!(r#","filePath":"{FILE_PATH}","fileUrl":"{FILE_URL}","fileId":"GENERATED""#),
        ),
        ("recording-starting", none.clone()),
        ("recording-failed", none.clone()),
        ("livestream-starting", none.clone()),
        ("livestream-started", none.clone()),
        ("livestream-stopping", none.clone()),
        ("livestream-stopped", none.clone()),
        ("livestream-starting", none.clone()),
        ("livestream-failed", none.clone()),
        ("hls-starting", none.clone()),
        (
            "hls-started",
            format!(r#","downstreamUrl":"{HLS}","playbackHlsUrl":"{HLS}""#),
        ),
        (
            "hls-playable",
            format!(r#","playbackHlsUrl":"{HLS}","livestreamUrl":"{HLS_LIVE}""#),
        ),
        ("hls-stopping", none.clone()),
        ("hls-stopped", none.clone()),
        ("hls-starting", none.clone()),
        ("hls-failed", none.clone()),
        (
            "participant-recording-starting",
            format!(r#"{p},"fileFormat":"webm""#),
        ),
        (
            "participant-recording-started",
            format!(r#"{p},"fileFormat":"webm""#),
        ),
        (
            "participant-recording-stopping",
            format!(r#"{p},"fileFormat":"webm""#),
        ),
        (
            "participant-recording-stopped",
            format!("{p}{}", file("a.webm")),
        ),
        (
            "participant-recording-starting",
            format!(r#"{p},"fileFormat":"mp4""#),
        ),
        ("participant-recording-failed", p.to_owned()),
        (
            "participant-track-recording-starting",
            format!(r#"{p},"kind":"audio""#),
        ),
        (
            "participant-track-recording-started",
            format!(r#"{p},"kind":"audio""#),
        ),
        (
            "participant-track-recording-stopping",
            format!(r#"{p},"kind":"audio""#),
        ),
        (
            "participant-track-recording-stopped",
            format!(r#"{p},"kind":"audio"{}"#, file("a.ogg")),
        ),
        (
            "participant-track-recording-starting",
            format!(r#"{p},"kind":"video""#),
        ),
        (
            "participant-track-recording-failed",
            format!(r#"{p},"kind":"video""#),
        ),
        (
            "hls-started",
            format!(r#","downstreamUrl":"{HLS}","playbackHlsUrl":"{HLS}""#),
        ),
        ("hls-playable", format!(r#","playbackHlsUrl":"{HLS}""#)),
        (
            "participant-track-recording-started",
            format!(r#"{p},"kind":"video""#),
        ),
        // John leaves: what is live closes, in catalog order, then the session ends.
        (
            "participant-left",
            format!(r#"{p},"participantName":"John""#),
        ),
        ("hls-stopped", none.clone()),
        (
            "participant-track-recording-stopped",
            format!(r#"{p},"kind":"video","fileDetails":[]"#),
        ),
    ]
}

#[tokio::test]
async fn every_new_signal_reaches_receivers_as_the_catalog_says() {
    let app = TestApp::delivering().await;
    let everything = Receiver::answering(204).await;
    let some = Receiver::answering(204).await;
    let all = app
        .endpoint(json!({"url": everything.url("/all"), "events": ["*"]}))
        .await;
    app.endpoint(
        json!({"url": some.url("/some"), "events": ["participant-recording-*", "hls-playable"]}),
    )
    .await;

    let join = signal(
        "j1",
        "participant.joined",
        0,
        json!({"participantId": "fkd74h", "participantName": "John"}),
    );
    assert_eq!(app.signals(json!([join])).await.status(), 202);
    // One batch per signal, as a media layer sends them.
    for s in media_signals() {
        let response = app.signals(json!([s])).await;
        assert_eq!(response.status(), 202, "{s}");
    }
    // A repeat (same id) and a stale one (older than the recording's last signal) add nothing.
    let again = app.signals(json!([media_signals()[3].clone()])).await;
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (again["duplicates"].as_u64(), again["events"].as_u64()),
        (Some(1), Some(0))
    );
    let late = signal("r-late", "recording.stopped", 4, json!({}));
    let late: Value = app.signals(json!([late])).await.json().await.unwrap();
    assert_eq!(
        (late["stale"].as_u64(), late["events"].as_u64()),
        (Some(1), Some(0))
    );
    let leave = signal(
        "j2",
        "participant.left",
        40,
        json!({"participantId": "fkd74h", "reason": "left"}),
    );
    assert_eq!(app.signals(json!([leave])).await.status(), 202);

    let stored = raw_payloads(&app, M).await;
    let events = app.events(M).await;
    let s = events[0]["sessionId"].as_str().unwrap().to_owned();
    // The generated fileId keeps its shape: 24 lowercase hex.
    let file_id = events
        .iter()
        .find(|e| e["webhookType"] == "recording-stopped")
        .map(|e| e["payload"]["data"]["fileId"].as_str().unwrap().to_owned())
        .unwrap();
    assert!(
        file_id.len() == 24
            && file_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    let mut expected = vec![format!(
        r#"{{"webhookType":"session-started","data":{{"sessionId":"{s}","meetingId":"{M}","start":"2026-01-01T10:00:00.000+00:00"}}}}"#
    )];
    for (name, rest) in expected_events() {
        let rest = rest.replace("GENERATED", &file_id);
        expected.push(format!(
            r#"{{"webhookType":"{name}","data":{{"meetingId":"{M}","sessionId":"{s}"{rest}}}}}"#
        ));
    }
    expected.push(format!(
        r#"{{"webhookType":"session-ended","data":{{"sessionId":"{s}","meetingId":"{M}","start":"2026-01-01T10:00:00.000+00:00","end":"2026-01-01T10:00:40.000+00:00"}}}}"#
    ));
    for (i, (got, want)) in stored.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "event {i}");
    }
    assert_eq!(stored.len(), expected.len());
    // Every new type was emitted at least once.
    for t in WebhookType::ALL {
        assert!(
            stored
                .iter()
                .any(|p| p.contains(&format!(r#""webhookType":"{t}""#))),
            "{t} never emitted"
        );
    }

    // The `*` endpoint gets every event, in order, signed; the receiver crate types each.
    let got = everything
        .wait_for("every event", |r| r.len() >= expected.len())
        .await;
    assert_eq!(got.len(), expected.len());
    let webhook = Webhook::new(all["secret"].as_str().unwrap()).unwrap();
    for (request, want) in got.iter().zip(&expected) {
        assert_eq!(request.body, want.as_bytes());
        let event: Event = webhook.verify(&request.headers, &request.body).unwrap();
        assert!(want.contains(&format!(r#""webhookType":"{}""#, event.webhook_type())));
        assert_eq!((event.meeting_id(), event.session_id()), (M, s.as_str()));
    }
    // The other gets only what its patterns name: no track recordings, no hls-started.
    let wanted: Vec<&String> = expected
        .iter()
        .filter(|p| {
            p.contains(r#""webhookType":"participant-recording-"#)
                || p.contains(r#""webhookType":"hls-playable""#)
        })
        .collect();
    assert_eq!(wanted.len(), 8);
    let got = some
        .wait_for("its events", |r| r.len() >= wanted.len())
        .await;
    let bodies: Vec<&[u8]> = got.iter().map(|r| &r.body[..]).collect();
    let wanted: Vec<&[u8]> = wanted.iter().map(|p| p.as_bytes()).collect();
    assert_eq!(bodies, wanted);
    app.shutdown().await;
}

#[tokio::test]
async fn bad_media_signals_get_a_clear_400_and_nothing_is_applied() {
    let app = TestApp::spawn().await;
    let join = signal(
        "j1",
        "participant.joined",
        0,
        json!({"participantId": "p", "participantName": "P"}),
    );
    assert_eq!(app.signals(json!([join])).await.status(), 202);
    let cases = [
        (
            signal("b1", "hls.started", 1, json!({})),
            "signals[1]: hls.started needs playbackHlsUrl or downstreamUrl",
        ),
        (
            signal(
                "b2",
                "hls.playable",
                1,
                json!({"playbackHlsUrl": "javascript:alert(1)"}),
            ),
            "signals[1]: playbackHlsUrl must be an absolute http(s) URL",
        ),
        (
            signal(
                "b3",
                "participant-recording.started",
                1,
                json!({"participantId": "p"}),
            ),
            "signals[1]: fileFormat is required",
        ),
        (
            signal(
                "b4",
                "participant-track-recording.stopped",
                1,
                json!({"participantId": "p", "kind": "audio", "fileDetails": [{"filePath": "/x"}]}),
            ),
            "signals[1]: fileDetails[0].fileUrl is required",
        ),
        (
            signal("b5", "recording.stopped", 1, json!({"fileUrl": 7})),
            "signals[1]: invalid type",
        ),
        (
            signal("b6", "recording-starting", 1, json!({})),
            "did you mean \"recording.starting\"",
        ),
    ];
    for (bad, expected) in cases {
        // A good signal first: the whole batch is refused.
        let good = signal("g", "recording.starting", 1, json!({}));
        let response = app.signals(json!([good, bad])).await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "invalid_signal").await;
        assert!(message.contains(expected), "{message}");
    }
    let events = app.events(M).await;
    assert_eq!(events.len(), 2, "nothing of a refused batch applied");
    app.shutdown().await;
}

#[tokio::test]
async fn the_openapi_document_lists_the_whole_catalog() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let schemas = &doc["components"]["schemas"];
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect()
    };
    let all: Vec<String> = WebhookType::ALL.iter().map(|t| t.to_string()).collect();
    assert_eq!(names(&schemas["WebhookTypeName"]["enum"]), all);
    let patterns = names(&schemas["EventPattern"]["enum"]);
    for t in &all {
        assert!(patterns.contains(t), "EventPattern lacks {t}");
    }
    for prefix in [
        "participant-recording-*",
        "participant-track-recording-*",
        "hls-*",
    ] {
        assert!(
            patterns.iter().any(|p| p == prefix),
            "EventPattern lacks {prefix}"
        );
    }
    // One `oneOf` branch per signal type, each naming its type.
    let mut types: Vec<String> = Vec::new();
    for branch in schemas["Signal"]["oneOf"].as_array().unwrap() {
        let text = branch.to_string();
        let start = text.find(r#""enum":[""#).expect("a type enum") + 9;
        let end = start + text[start..].find('"').unwrap();
        types.push(text[start..end].to_owned());
    }
    let mut expected = meetinghooks::domain::signal::signal_types();
    types.sort();
    expected.sort();
    assert_eq!(types, expected);
    app.shutdown().await;
}
