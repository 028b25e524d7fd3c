//! A whole meeting through the API, every payload compared byte for byte.

use serde_json::{json, Value};

use crate::helpers::*;

fn at(second: u32) -> String {
    format!("2026-01-01T10:00:{second:02}.000Z")
}

fn t(second: u32) -> String {
    format!("2026-01-01T10:00:{second:02}.000+00:00")
}

#[tokio::test]
async fn full_meeting_payloads_are_exact() {
    let app = TestApp::spawn().await;
    let m = "team-sync.42";
    let batches = [
        vec![
            json!({"id":"s1","type":"participant.joined","meetingId":m,"at":at(0),"participantId":"p1","participantName":"Alice"}),
            json!({"id":"s2","type":"participant.joined","meetingId":m,"at":at(1),"participantId":"p2","participantName":"Bob"}),
        ],
        vec![
            json!({"id":"s3","type":"recording.started","meetingId":m,"at":at(2),"fileId":"rec-file-1"}),
        ],
        vec![
            json!({"id":"s4","type":"hls.started","meetingId":m,"at":at(3),"downstreamUrl":"https://cdn.example.com/hls/index.m3u8"}),
            json!({"id":"s5","type":"livestream.started","meetingId":m,"at":at(4)}),
        ],
        // Bob drops and comes back inside the 2 s grace: nothing is emitted.
        vec![
            json!({"id":"s6","type":"participant.left","meetingId":m,"at":at(5),"participantId":"p2","reason":"disconnected"}),
        ],
        vec![
            json!({"id":"s7","type":"participant.joined","meetingId":m,"at":at(6),"participantId":"p2","participantName":"Bob"}),
        ],
        vec![
            json!({"id":"s8","type":"livestream.stopped","meetingId":m,"at":at(7)}),
            json!({"id":"s9","type":"recording.stopped","meetingId":m,"at":at(8)}),
            json!({"id":"s10","type":"participant.left","meetingId":m,"at":at(9),"participantId":"p2","reason":"left"}),
        ],
        // Alice leaves last: HLS is stopped, then the session ends.
        vec![
            json!({"id":"s11","type":"participant.left","meetingId":m,"at":at(10),"participantId":"p1","reason":"left"}),
        ],
    ];
    for batch in batches {
        let response = app.signals(Value::Array(batch)).await;
        assert_eq!(response.status(), 202);
    }

    let events = app.events(m).await;
    let s = events[0]["sessionId"].as_str().unwrap().to_owned();
    assert_eq!(s.len(), 24);
    assert!(s
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    let base = format!(r#""meetingId":"{m}","sessionId":"{s}""#);
    let expected = [
        format!(
            r#"{{"webhookType":"session-started","data":{{"sessionId":"{s}","meetingId":"{m}","start":"{}"}}}}"#,
            t(0)
        ),
        format!(
            r#"{{"webhookType":"participant-joined","data":{{{base},"participantId":"p1","participantName":"Alice"}}}}"#
        ),
        format!(
            r#"{{"webhookType":"participant-joined","data":{{{base},"participantId":"p2","participantName":"Bob"}}}}"#
        ),
        format!(r#"{{"webhookType":"recording-started","data":{{{base}}}}}"#),
        format!(
            r#"{{"webhookType":"hls-started","data":{{{base},"downstreamUrl":"https://cdn.example.com/hls/index.m3u8","playbackHlsUrl":"https://cdn.example.com/hls/index.m3u8"}}}}"#
        ),
        format!(r#"{{"webhookType":"livestream-started","data":{{{base}}}}}"#),
        format!(r#"{{"webhookType":"livestream-stopped","data":{{{base}}}}}"#),
        format!(r#"{{"webhookType":"recording-stopped","data":{{{base},"fileId":"rec-file-1"}}}}"#),
        format!(
            r#"{{"webhookType":"participant-left","data":{{{base},"participantId":"p2","participantName":"Bob"}}}}"#
        ),
        format!(
            r#"{{"webhookType":"participant-left","data":{{{base},"participantId":"p1","participantName":"Alice"}}}}"#
        ),
        format!(r#"{{"webhookType":"hls-stopped","data":{{{base}}}}}"#),
        format!(
            r#"{{"webhookType":"session-ended","data":{{"sessionId":"{s}","meetingId":"{m}","start":"{}","end":"{}"}}}}"#,
            t(0),
            t(10)
        ),
    ];
    let raw = raw_payloads(&app, m).await;
    assert_eq!(raw.len(), expected.len(), "{raw:#?}");
    for (i, (got, want)) in raw.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "payload #{}", i + 1);
    }
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["sequence"], i as u64 + 1);
    }

    // The session shows Bob's reconnect as one continuous stay.
    let session: Value = app
        .get(&format!("/v2/sessions/{s}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(session["status"], "ended");
    assert_eq!(session["start"], t(0));
    assert_eq!(session["end"], t(10));
    assert_eq!(
        session["participants"],
        json!([
            {"participantId":"p1","name":"Alice","timelog":[{"start":t(0),"end":t(10)}]},
            {"participantId":"p2","name":"Bob","timelog":[{"start":t(1),"end":t(9)}]}
        ])
    );
    app.shutdown().await;
}
