//! Issue 13's "done when": a whole LiveKit-shaped meeting, delivered as LiveKit delivers
//! (one FIFO queue per resource, queues racing each other, retries repeating events), becomes
//! exactly the catalog's events at a real receiver, in order.

use std::time::Duration;

use serde_json::{json, Value};

use super::{livekit_source, post_livekit};
use crate::helpers::*;
use crate::receiver::Receiver;

pub(super) const T: i64 = 1_700_000_000;
/// LiveKit drops what waited longer than this (`MaxAge`), so no event is delivered later.
const MAX_DELAY_MS: i64 = 5_000;

/// One event and the LiveKit resource whose queue carries it.
pub(super) struct Queued {
    resource: String,
    created_ms: i64,
    body: Value,
}

pub(super) fn room(event: &str, id: &str, name: &str, secs: i64) -> Queued {
    Queued {
        resource: "room".into(),
        created_ms: secs * 1000,
        body: json!({"event":event,"id":id,"createdAt":(T + secs).to_string(),
            "room":{"sid":"RM_1","name":name,"emptyTimeout":300,"creationTime":T.to_string()}}),
    }
}

/// One LiveKit connection of a participant: its own sid (and queue), joined at `joined` s.
pub(super) struct Conn<'a> {
    pub(super) sid: &'a str,
    pub(super) identity: &'a str,
    pub(super) joined: i64,
}

pub(super) fn participant(
    event: &str,
    id: &str,
    name: &str,
    conn: Conn<'_>,
    secs: i64,
    reason: &str,
) -> Queued {
    let Conn {
        sid,
        identity,
        joined,
    } = conn;
    let mut p = json!({"sid":sid,"identity":identity,"name":format!("{identity} (LiveKit)"),
        "joinedAt":(T + joined).to_string(),"joinedAtMs":((T + joined) * 1000 + 250).to_string()});
    if !reason.is_empty() {
        p["disconnectReason"] = json!(reason);
    }
    Queued {
        resource: sid.into(),
        created_ms: secs * 1000,
        body: json!({"event":event,"id":id,"createdAt":(T + secs).to_string(),
            "room":{"sid":"RM_1","name":name},"participant":p}),
    }
}

pub(super) fn egress(
    event: &str,
    id: &str,
    name: &str,
    egress_id: &str,
    status: Option<&str>,
    secs: i64,
    outputs: Value,
) -> Queued {
    let mut info = json!({"egressId":egress_id,"roomId":"RM_1","roomName":name,
        "updatedAt":((T + secs) * 1_000_000_000).to_string()});
    if let Some(status) = status {
        info["status"] = json!(status);
    }
    info.as_object_mut()
        .unwrap()
        .extend(outputs.as_object().unwrap().clone());
    Queued {
        resource: egress_id.into(),
        created_ms: secs * 1000,
        body: json!({"event":event,"id":id,"createdAt":(T + secs).to_string(),"egressInfo":info}),
    }
}

/// The meeting, in the order LiveKit creates its events.
fn meeting(name: &str) -> Vec<Queued> {
    let file = json!({"roomComposite":{"roomName":name,"fileOutputs":[{"fileType":"MP4","filepath":"rec.mp4"}]}});
    let hls = json!({"roomComposite":{"roomName":name,"segmentOutputs":[{"protocol":"HLS_PROTOCOL","playlistName":"index.m3u8"}]},
        "segmentResults":[{"playlistLocation":format!("https://meet-hls.s3.amazonaws.com/hls/{name}/index.m3u8")}]});
    let rtmp = json!({"roomComposite":{"roomName":name,"streamOutputs":[{"protocol":"RTMP","urls":["rtmp://live.example.com/x"]}]}});
    vec![
        room("room_started", "EV_rs", name, 0),
        participant(
            "participant_joined",
            "EV_a1",
            name,
            Conn {
                sid: "PA_a",
                identity: "alice",
                joined: 1,
            },
            1,
            "",
        ),
        participant(
            "participant_joined",
            "EV_b1",
            name,
            Conn {
                sid: "PA_b1",
                identity: "bob",
                joined: 10,
            },
            10,
            "",
        ),
        participant(
            "participant_joined",
            "EV_c1",
            name,
            Conn {
                sid: "PA_c",
                identity: "carol",
                joined: 20,
            },
            20,
            "",
        ),
        egress(
            "egress_started",
            "EV_f0",
            name,
            "EG_file",
            None,
            21,
            file.clone(),
        ),
        egress(
            "egress_updated",
            "EV_f1",
            name,
            "EG_file",
            Some("EGRESS_ACTIVE"),
            30,
            file.clone(),
        ),
        egress(
            "egress_started",
            "EV_h0",
            name,
            "EG_hls",
            None,
            31,
            hls.clone(),
        ),
        egress(
            "egress_started",
            "EV_r0",
            name,
            "EG_rtmp",
            None,
            32,
            rtmp.clone(),
        ),
        egress(
            "egress_updated",
            "EV_h1",
            name,
            "EG_hls",
            Some("EGRESS_ACTIVE"),
            40,
            hls.clone(),
        ),
        // The RTMP target refused: it never became active, so nothing was live.
        egress(
            "egress_ended",
            "EV_r1",
            name,
            "EG_rtmp",
            Some("EGRESS_FAILED"),
            41,
            rtmp,
        ),
        // Bob's connection drops, a new one aborts before connecting, the next one makes it:
        // three connections, three queues, racing.
        participant(
            "participant_left",
            "EV_b2",
            name,
            Conn {
                sid: "PA_b1",
                identity: "bob",
                joined: 10,
            },
            50,
            "SIGNAL_CLOSE",
        ),
        participant(
            "participant_connection_aborted",
            "EV_b3",
            name,
            Conn {
                sid: "PA_b2",
                identity: "bob",
                joined: 51,
            },
            51,
            "JOIN_FAILURE",
        ),
        participant(
            "participant_joined",
            "EV_b4",
            name,
            Conn {
                sid: "PA_b3",
                identity: "bob",
                joined: 52,
            },
            52,
            "",
        ),
        egress(
            "egress_updated",
            "EV_h2",
            name,
            "EG_hls",
            Some("EGRESS_ENDING"),
            60,
            hls.clone(),
        ),
        egress(
            "egress_ended",
            "EV_h3",
            name,
            "EG_hls",
            Some("EGRESS_COMPLETE"),
            61,
            hls,
        ),
        egress(
            "egress_ended",
            "EV_f2",
            name,
            "EG_file",
            Some("EGRESS_COMPLETE"),
            70,
            file,
        ),
        participant(
            "participant_left",
            "EV_b5",
            name,
            Conn {
                sid: "PA_b3",
                identity: "bob",
                joined: 52,
            },
            80,
            "CLIENT_INITIATED",
        ),
        participant(
            "participant_left",
            "EV_a2",
            name,
            Conn {
                sid: "PA_a",
                identity: "alice",
                joined: 1,
            },
            90,
            "CLIENT_INITIATED",
        ),
        // Carol's participant_left was dropped by LiveKit's queue: room_finished removes her.
        room("room_finished", "EV_rf", name, 100),
    ]
}

/// A small deterministic generator, so a failing seed can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// LiveKit's delivery: each event leaves its resource's queue up to `MAX_DELAY_MS` after it
/// was created, never before the one ahead of it in the same queue; queues race. Some events
/// are delivered twice (a retry after a lost answer).
pub(super) fn delivery_order(events: Vec<Queued>, seed: u64) -> Vec<Value> {
    let mut rng = Lcg(seed);
    let mut last_of_queue = std::collections::HashMap::<String, i64>::new();
    let mut timed: Vec<(i64, u64, Value)> = Vec::new();
    for e in events {
        let earliest = last_of_queue.get(&e.resource).copied().unwrap_or(i64::MIN);
        // Strictly after the one ahead in its queue, so a tie cannot reorder a queue.
        let sent =
            (e.created_ms + rng.next(MAX_DELAY_MS as u64) as i64).max(earliest.saturating_add(1));
        last_of_queue.insert(e.resource.clone(), sent);
        if rng.next(4) == 0 {
            let retry = sent + rng.next(MAX_DELAY_MS as u64) as i64;
            timed.push((retry, rng.next(u64::MAX), e.body.clone()));
        }
        timed.push((sent, rng.next(u64::MAX), e.body));
    }
    timed.sort_by_key(|(at, tie, _)| (*at, *tie));
    timed.into_iter().map(|(_, _, body)| body).collect()
}

pub(super) fn ms(secs_ms: i64) -> String {
    meetinghooks::domain::timestamp::Timestamp(T * 1000 + secs_ms).to_rfc3339()
}

#[tokio::test]
async fn a_livekit_meeting_becomes_exactly_the_catalogs_events_in_order() {
    // A long grace: Bob's reconnect must be absorbed however slowly the test runs.
    let app = TestApp::delivering_with(|c| c.reconnect_grace = Duration::from_secs(120)).await;
    let receiver = Receiver::answering(200).await;
    app.endpoint(json!({"url": receiver.url("/hooks")})).await;
    livekit_source(
        &app,
        "lk-key",
        "lk-secret",
        json!({"hlsRewrite":
        {"from":"https://meet-hls.s3.amazonaws.com/","to":"https://cdn.example.com/"}}),
    )
    .await;

    let seeds = 1..=6_u64;
    // The seeds cover the races that matter: Bob's new connection reported before his old
    // one's leave, and retried events.
    let orders: Vec<Vec<Value>> = seeds
        .clone()
        .map(|seed| delivery_order(meeting("m"), seed))
        .collect();
    let position = |order: &[Value], id: &str| order.iter().position(|b| b["id"] == id).unwrap();
    assert!(orders
        .iter()
        .any(|o| position(o, "EV_b4") < position(o, "EV_b2")));
    assert!(orders
        .iter()
        .any(|o| position(o, "EV_b3") < position(o, "EV_b2")));
    assert!(
        orders.iter().all(|o| o.len() > 19),
        "every run repeats some events"
    );
    for seed in seeds.clone() {
        let name = format!("standup-{seed}");
        for body in delivery_order(meeting(&name), seed) {
            let response =
                post_livekit(&app, "/v1/sources/livekit", "lk-key", "lk-secret", &body).await;
            assert_eq!(response.status(), 200, "seed {seed}: {body}");
        }
    }

    for seed in seeds {
        let m = format!("standup-{seed}");
        let raw = raw_payloads(&app, &m).await;
        let events = app.events(&m).await;
        let s = events[0]["sessionId"].as_str().unwrap().to_owned();
        let base = format!(r#""meetingId":"{m}","sessionId":"{s}""#);
        let person = |id: &str| {
            format!(r#"{{{base},"participantId":"{id}","participantName":"{id} (LiveKit)"}}"#)
        };
        let joined = |id: &str| {
            format!(
                r#"{{"webhookType":"participant-joined","data":{}}}"#,
                person(id)
            )
        };
        let left = |id: &str| {
            format!(
                r#"{{"webhookType":"participant-left","data":{}}}"#,
                person(id)
            )
        };
        let mut expected = vec![
            format!(
                r#"{{"webhookType":"session-started","data":{{"sessionId":"{s}","meetingId":"{m}","start":"{}"}}}}"#,
                ms(1_250)
            ),
            joined("alice"),
        ];
        // Queues race: each LiveKit event's catalog events come in the order in which it
        // was first delivered; the events of one queue (participant, egress) keep theirs.
        let order = delivery_order(meeting(&m), seed);
        let bare = |name: &str| format!(r#"{{"webhookType":"{name}","data":{{{base}}}}}"#);
        let hls_url = format!("https://cdn.example.com/hls/{m}/index.m3u8");
        let mut raced = vec![
            ("EV_b1", joined("bob")),
            ("EV_c1", joined("carol")),
            ("EV_f0", bare("recording-starting")),
            ("EV_f1", bare("recording-started")),
            ("EV_h0", bare("hls-starting")),
            ("EV_r0", bare("livestream-starting")),
            (
                "EV_h1",
                format!(
                    r#"{{"webhookType":"hls-started","data":{{{base},"downstreamUrl":"{hls_url}","playbackHlsUrl":"{hls_url}"}}}}"#
                ),
            ),
            // The RTMP target refused before it was active: failed, not stopped.
            ("EV_r1", bare("livestream-failed")),
            ("EV_h2", bare("hls-stopping")),
            ("EV_h3", bare("hls-stopped")),
            (
                "EV_f2",
                format!(
                    r#"{{"webhookType":"recording-stopped","data":{{{base},"fileId":"EG_file"}}}}"#
                ),
            ),
            ("EV_b5", left("bob")),
            ("EV_a2", left("alice")),
        ];
        raced.sort_by_key(|(id, _)| position(&order, id));
        expected.extend(raced.into_iter().map(|(_, event)| event));
        // Carol's leave was dropped: room_finished removes her and ends the session.
        expected.extend([
            left("carol"),
            format!(
                r#"{{"webhookType":"session-ended","data":{{"sessionId":"{s}","meetingId":"{m}","start":"{}","end":"{}"}}}}"#,
                ms(1_250),
                ms(100_000)
            ),
        ]);
        assert_eq!(raw, expected, "seed {seed}");

        // Delivered to the receiver in that order, each once.
        assert_delivered(&receiver, &m, &expected, seed).await;
    }
    app.shutdown().await;
}

/// Waits until `receiver` has every event of meeting `m`, then asserts their bodies are
/// `expected`, byte for byte and in order.
pub(super) async fn assert_delivered(receiver: &Receiver, m: &str, expected: &[String], seed: u64) {
    let of_meeting = |r: &&crate::receiver::Received| r.json()["data"]["meetingId"] == m;
    let delivered = receiver
        .wait_for(&format!("the events of {m}"), |got| {
            got.iter().filter(of_meeting).count() >= expected.len()
        })
        .await;
    let bodies: Vec<String> = delivered
        .iter()
        .filter(of_meeting)
        .map(|r| String::from_utf8(r.body.to_vec()).unwrap())
        .collect();
    assert_eq!(bodies, expected, "seed {seed}: delivered");
}
