//! Egresses in LiveKit's real order: two file egresses of one room overlap, and one finishes
//! its file after the last participant left and after `room_finished`. Each reports its own
//! file at the real receiver, then the session ends; a room name that is no meeting id
//! loses nothing.

use serde_json::{json, Value};

use super::meeting::{
    assert_delivered, delivery_order, egress, ms, participant, room, Conn, Queued,
};
use super::{livekit_source, post_livekit};
use crate::helpers::*;
use crate::receiver::Receiver;
use meetinghooks::sources::livekit::mapping::meeting_id;

fn file(name: &str, egress_id: &str, done: bool) -> Value {
    let mut outputs = json!({"roomComposite":{"roomName":name,
        "fileOutputs":[{"fileType":"MP4","filepath":format!("rec/{egress_id}.mp4")}]}});
    if done {
        outputs["fileResults"] = json!([{"filename":format!("rec/{egress_id}.mp4"),
            "location":format!("https://bucket.example.com/rec/{egress_id}.mp4"),
            "size":"1048576"}]);
    }
    outputs
}

fn alice(event: &str, id: &str, name: &str, secs: i64, reason: &str) -> Queued {
    let conn = Conn {
        sid: "PA_a",
        identity: "alice",
        joined: 1,
    };
    participant(event, id, name, conn, secs, reason)
}

/// The meeting, in the order LiveKit creates its events: EG_a records the whole meeting and
/// finishes after `room_finished`; EG_b overlaps it and ends while Alice is inside.
fn meeting(name: &str) -> Vec<Queued> {
    let a = |event, id, status, secs, done| {
        egress(
            event,
            id,
            name,
            "EG_a",
            status,
            secs,
            file(name, "EG_a", done),
        )
    };
    let b = |event, id, status, secs, done| {
        egress(
            event,
            id,
            name,
            "EG_b",
            status,
            secs,
            file(name, "EG_b", done),
        )
    };
    vec![
        room("room_started", "EV_rs", name, 0),
        alice("participant_joined", "EV_j", name, 1, ""),
        a("egress_started", "EV_a0", None, 5, false),
        a("egress_updated", "EV_a1", Some("EGRESS_ACTIVE"), 12, false),
        b("egress_started", "EV_b0", None, 14, false),
        b("egress_updated", "EV_b1", Some("EGRESS_ACTIVE"), 16, false),
        b("egress_updated", "EV_b2", Some("EGRESS_ENDING"), 25, false),
        b("egress_ended", "EV_b3", Some("EGRESS_COMPLETE"), 26, true),
        alice("participant_left", "EV_l", name, 40, "CLIENT_INITIATED"),
        room("room_finished", "EV_rf", name, 50),
        a("egress_updated", "EV_a2", Some("EGRESS_ENDING"), 51, false),
        a("egress_ended", "EV_a3", Some("EGRESS_COMPLETE"), 60, true),
    ]
}

#[tokio::test]
async fn egresses_report_their_files_after_the_room_finished_then_the_session_ends() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(200).await;
    app.endpoint(json!({"url": receiver.url("/hooks")})).await;
    livekit_source(&app, "eg-key", "eg-secret", json!({})).await;

    // Seed 1's room is named as people name rooms: not a meeting id.
    let name_of = |seed: u64| match seed {
        1 => format!("Daily stand-up #{seed}"),
        _ => format!("egress-{seed}"),
    };
    let seeds = 1..=4_u64;
    for seed in seeds.clone() {
        for body in delivery_order(meeting(&name_of(seed)), seed) {
            let response =
                post_livekit(&app, "/v1/sources/livekit", "eg-key", "eg-secret", &body).await;
            assert_eq!(response.status(), 200, "seed {seed}: {body}");
        }
    }

    for seed in seeds {
        let name = name_of(seed);
        let m = meeting_id(&name).unwrap();
        if seed == 1 {
            assert!(m.starts_with("lk-") && m.len() == 27, "{m}");
        } else {
            assert_eq!(m, name);
        }
        let raw = raw_payloads(&app, &m).await;
        let events = app.events(&m).await;
        let s = events[0]["sessionId"].as_str().unwrap().to_owned();
        let base = format!(r#""meetingId":"{m}","sessionId":"{s}""#);
        let bare = |t: &str| format!(r#"{{"webhookType":"{t}","data":{{{base}}}}}"#);
        let person = |t: &str| {
            format!(
                r#"{{"webhookType":"{t}","data":{{{base},"participantId":"alice","participantName":"alice (LiveKit)"}}}}"#
            )
        };
        let stopped = |egress_id: &str| {
            format!(
                r#"{{"webhookType":"recording-stopped","data":{{{base},"filePath":"rec/{egress_id}.mp4","fileUrl":"https://bucket.example.com/rec/{egress_id}.mp4","fileId":"{egress_id}"}}}}"#
            )
        };
        let mut expected = vec![
            format!(
                r#"{{"webhookType":"session-started","data":{{"sessionId":"{s}","meetingId":"{m}","start":"{}"}}}}"#,
                ms(1_250)
            ),
            person("participant-joined"),
        ];
        // The two egresses' queues race while both start; each keeps its own order.
        let order = delivery_order(meeting(&name), seed);
        let position = |id: &str| order.iter().position(|b| b["id"] == id).unwrap();
        let mut raced = vec![
            ("EV_a0", bare("recording-starting")),
            ("EV_a1", bare("recording-started")),
            ("EV_b0", bare("recording-starting")),
            ("EV_b1", bare("recording-started")),
        ];
        raced.sort_by_key(|(id, _)| position(id));
        expected.extend(raced.into_iter().map(|(_, event)| event));
        expected.extend([
            bare("recording-stopping"),
            stopped("EG_b"),
            person("participant-left"),
            // Alice is gone and the room finished, but EG_a still writes its file.
            bare("recording-stopping"),
            stopped("EG_a"),
            // The session ended when it emptied, reported once its last egress ended.
            format!(
                r#"{{"webhookType":"session-ended","data":{{"sessionId":"{s}","meetingId":"{m}","start":"{}","end":"{}"}}}}"#,
                ms(1_250),
                ms(40_000)
            ),
        ]);
        assert_eq!(raw, expected, "seed {seed}");

        assert_delivered(&receiver, &m, &expected, seed).await;
    }
    app.shutdown().await;
}
