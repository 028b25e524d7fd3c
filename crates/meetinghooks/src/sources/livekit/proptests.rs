//! Property tests: LiveKit streams reordered beyond LiveKit's own guarantees (any order, with
//! repeats) leave no ghost participant and no recording running. Each body is decoded and
//! mapped as the API does, then applied by the real engine.

use std::collections::HashSet;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::event::WebhookEvent;
use super::mapping::{self, MapContext, Mapped};
use crate::domain::media::Resource;
use crate::domain::signal::SignalKind;
use crate::domain::timestamp::Timestamp;
use crate::engine::{
    apply, end_session, tick, Emitted, EngineConfig, Meeting, MeetingState, SessionEnd,
};

pub(super) const M: &str = "room-1";
/// Event times are offsets from this, in milliseconds.
pub(super) const T_MS: i64 = 1_700_000_000_000;
const LEAVE_REASONS: [&str; 4] = [
    "CLIENT_INITIATED",
    "SIGNAL_CLOSE",
    "PARTICIPANT_REMOVED",
    "CONNECTION_TIMEOUT",
];

pub(super) fn secs(rel_ms: i64) -> String {
    ((T_MS + rel_ms).div_euclid(1000)).to_string()
}

/// One stay of a participant: joined at `join`, left at `leave` (ms offsets) if it did.
#[derive(Debug, Clone)]
pub(super) struct Stay {
    pub(super) join: i64,
    pub(super) leave: Option<(i64, usize)>,
}

pub(super) fn participant_events(identity: &str, stays: &[Stay]) -> Vec<Value> {
    let mut out = Vec::new();
    for (n, stay) in stays.iter().enumerate() {
        let sid = format!("PA_{identity}_{n}");
        let info = |reason: Option<&str>| {
            let mut p = json!({"sid":sid,"identity":identity,"name":identity,
                "joinedAt":secs(stay.join),"joinedAtMs":(T_MS + stay.join).to_string()});
            if let Some(reason) = reason {
                p["disconnectReason"] = json!(reason);
            }
            p
        };
        out.push(
            json!({"event":"participant_joined","id":format!("EV_{sid}_j"),
            "createdAt":secs(stay.join),"room":{"name":M},"participant":info(None)}),
        );
        if let Some((leave, reason)) = stay.leave {
            out.push(
                json!({"event":"participant_left","id":format!("EV_{sid}_l"),
                "createdAt":secs(leave),"room":{"name":M},
                "participant":info(Some(LEAVE_REASONS[reason]))}),
            );
        }
    }
    out
}

/// Stays with real, increasing times: each gap and each stay lasts 1 ms to 4 s, so joins
/// and leaves often share a second, as `createdAt` sees them.
fn stays() -> impl Strategy<Value = Vec<Stay>> {
    (
        prop::collection::vec((1..4_000_i64, 1..4_000_i64, 0..4_usize), 1..4),
        any::<bool>(),
    )
        .prop_map(|(raw, last_open)| {
            let mut at = 0;
            let count = raw.len();
            raw.into_iter()
                .enumerate()
                .map(|(i, (gap, stay, reason))| {
                    let join = at + gap;
                    at = join + stay;
                    let open = last_open && i + 1 == count;
                    Stay {
                        join,
                        leave: (!open).then_some((at, reason)),
                    }
                })
                .collect()
        })
}

/// Applies bodies as the API would: decode, map, dedupe by signal id, engine.
pub(super) struct Harness {
    pub(super) meeting: Meeting,
    /// Every event emitted, with the lifecycle id of the signal that caused it (if any).
    pub(super) log: Vec<(Option<String>, Emitted)>,
    seen: HashSet<String>,
    clock: i64,
    config: EngineConfig,
}

impl Harness {
    pub(super) fn new() -> Self {
        Harness {
            meeting: Meeting::new(MeetingState::default()),
            log: Vec::new(),
            seen: HashSet::new(),
            clock: 0,
            config: EngineConfig {
                reconnect_grace_ms: 10_000,
            },
        }
    }

    pub(super) fn deliver(&mut self, body: &Value) {
        let event = WebhookEvent::decode(body.to_string().as_bytes()).expect("decodes");
        let cx = MapContext {
            event_id: &event.id,
            received_at: Timestamp(T_MS + 1_000_000_000),
            hls_rewrite: None,
        };
        match mapping::map(&event, &cx).expect("maps") {
            Mapped::Signals(signals) => {
                for signal in signals {
                    if self.seen.contains(&signal.id) {
                        continue;
                    }
                    self.clock = self.clock.max(signal.at.0);
                    let now = Timestamp(self.clock);
                    // Media outside a session is refused (409), so not remembered.
                    if let Ok(outcome) =
                        apply(&mut self.meeting, "prj_1", &signal, now, &self.config)
                    {
                        let lifecycle = match &signal.kind {
                            SignalKind::Media(m) => m.lifecycle.clone(),
                            _ => None,
                        };
                        let events = outcome.events.into_iter();
                        self.log.extend(events.map(|e| (lifecycle.clone(), e)));
                        self.seen.insert(signal.id);
                    }
                    self.written();
                }
            }
            Mapped::EndSession { at, .. } => {
                let end = SessionEnd::room_finished(at, at);
                if let Ok(outcome) = end_session(&mut self.meeting, M, end) {
                    self.log
                        .extend(outcome.events.into_iter().map(|e| (None, e)));
                }
                self.written();
            }
            Mapped::Ignored(_) => {}
        }
    }

    /// The store writes every step back; this harness keeps everything in memory.
    fn written(&mut self) {
        self.meeting.changed.clear();
        self.meeting.retired.clear();
    }

    fn finish_graces(&mut self) {
        tick(&mut self.meeting, M, Timestamp(i64::MAX / 4));
        self.written();
    }

    fn present(&self) -> Vec<String> {
        let Some(session) = &self.meeting.state.session else {
            return Vec::new();
        };
        let mut ids: Vec<String> = self
            .meeting
            .participants
            .values()
            .filter(|p| p.is_present_in(&session.id))
            .map(|p| p.id.clone())
            .collect();
        ids.sort();
        ids
    }
}

/// Every body, some twice, in an order proptest picks.
pub(super) fn delivered(bodies: Vec<Value>) -> impl Strategy<Value = Vec<Value>> {
    let n = bodies.len();
    prop::collection::vec(any::<bool>(), n).prop_flat_map(move |repeat| {
        let mut all = bodies.clone();
        all.extend(
            bodies
                .iter()
                .zip(&repeat)
                .filter(|(_, r)| **r)
                .map(|(b, _)| b.clone()),
        );
        Just(all).prop_shuffle()
    })
}

fn meeting_of(people: &[Vec<Stay>]) -> (Vec<Value>, Vec<String>) {
    let mut bodies = Vec::new();
    let mut open = Vec::new();
    for (i, stays) in people.iter().enumerate() {
        let identity = format!("user-{i}");
        bodies.extend(participant_events(&identity, stays));
        if stays.last().is_some_and(|s| s.leave.is_none()) {
            open.push(identity);
        }
    }
    (bodies, open)
}

fn people_in_any_order() -> impl Strategy<Value = (Vec<Value>, Vec<String>)> {
    prop::collection::vec(stays(), 1..4).prop_flat_map(|people| {
        let (bodies, open) = meeting_of(&people);
        (delivered(bodies), Just(open))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the order: inside exactly those whose last stay is open. A leave that came
    /// before its join leaves no ghost.
    #[test]
    fn no_ghost_participants((order, open) in people_in_any_order()) {
        let mut h = Harness::new();
        for body in &order {
            h.deliver(body);
        }
        h.finish_graces();
        prop_assert_eq!(h.present(), open);
    }

    /// `room_finished` (LiveKit sends it after its departure timeout, so last) ends it all.
    #[test]
    fn room_finished_leaves_nobody_inside((order, _) in people_in_any_order()) {
        let mut h = Harness::new();
        for body in &order {
            h.deliver(body);
        }
        h.deliver(&json!({"event":"room_finished","id":"EV_rf","createdAt":secs(60_000),
            "room":{"sid":"RM_1","name":M}}));
        prop_assert!(h.meeting.state.session.is_none());
        prop_assert_eq!(h.present(), Vec::<String>::new());
    }

    /// An egress's events in any order, repeated: an egress that ended leaves nothing running,
    /// one still active is running, unless its ENDING overtook both its starts (then the
    /// starts are stale: a receiver is never told of a start after its stop).
    #[test]
    fn no_recording_left_running(
        (order, ended) in (0..3_usize, 1..5_000_i64, 1..5_000_i64, 1..5_000_i64, 0..4_usize, any::<bool>())
            .prop_flat_map(|(kind, start, active, end, status, finished)| {
                let bodies = egress_events(kind, start, active, end, status, finished);
                (delivered(bodies), Just((kind, finished)))
            })
    ) {
        let mut h = Harness::new();
        // The host is inside first and throughout: media needs an ongoing session.
        h.deliver(&participant_events("host", &[Stay { join: 0, leave: None }])[0]);
        for body in &order {
            h.deliver(body);
        }
        let session = h.meeting.state.session.clone().expect("the host is inside");
        let resource = match ended.0 {
            0 => Resource::Recording,
            1 => Resource::Livestream,
            _ => Resource::Hls,
        };
        let running = session.media.iter().any(|m| m.resource == resource);
        let first = |id: &str| order.iter().position(|b| b["id"] == id);
        let ending_first = first("EV_eg2") < first("EV_eg0").min(first("EV_eg1"));
        prop_assert_eq!(running, !ended.1 && !ending_first);
    }
}

/// One room-composite egress to a file, a stream or HLS: started, active, ending and (if
/// `finished`) ended with one of COMPLETE, LIMIT_REACHED, FAILED, ABORTED.
fn egress_events(
    kind: usize,
    start: i64,
    active: i64,
    end: i64,
    status: usize,
    finished: bool,
) -> Vec<Value> {
    let outputs = match kind {
        0 => json!({"roomComposite":{"fileOutputs":[{"filepath":"x.mp4"}]}}),
        1 => json!({"roomComposite":{"streamOutputs":[{"urls":["rtmp://x/y"]}]}}),
        _ => json!({"roomComposite":{"segmentOutputs":[{"protocol":"HLS_PROTOCOL"}]},
            "segmentResults":[{"playlistLocation":"https://hls.example.com/r/index.m3u8"}]}),
    };
    let ended = [
        "EGRESS_COMPLETE",
        "EGRESS_LIMIT_REACHED",
        "EGRESS_FAILED",
        "EGRESS_ABORTED",
    ];
    let (t0, t1) = (start, start + active);
    let (t2, t3) = (t1 + end, t1 + end + 1);
    let mut phases = vec![
        ("egress_started", None, t0),
        ("egress_updated", Some("EGRESS_ACTIVE"), t1),
        ("egress_updated", Some("EGRESS_ENDING"), t2),
    ];
    if finished {
        phases.push(("egress_ended", Some(ended[status]), t3));
    }
    phases
        .into_iter()
        .enumerate()
        .map(|(n, (event, status, at))| {
            let mut info = json!({"egressId":"EG_1","roomName":M,
                "updatedAt":((T_MS + at) * 1_000_000).to_string()});
            if let Some(status) = status {
                info["status"] = json!(status);
            }
            info.as_object_mut()
                .unwrap()
                .extend(outputs.as_object().unwrap().clone());
            json!({"event":event,"id":format!("EV_eg{n}"),"createdAt":secs(at),"egressInfo":info})
        })
        .collect()
}

/// A join LiveKit reported before `room_finished` but delivered after it belonged to the
/// finished room: it must not open a session nobody will ever end.
#[test]
fn a_join_delivered_after_room_finished_opens_no_ghost_session() {
    let mut h = Harness::new();
    let alice = participant_events(
        "alice",
        &[Stay {
            join: 1_000,
            leave: None,
        }],
    );
    let bob = participant_events(
        "bob",
        &[Stay {
            join: 2_000,
            leave: None,
        }],
    );
    h.deliver(&alice[0]);
    h.deliver(
        &json!({"event":"room_finished","id":"EV_rf","createdAt":secs(30_000),
        "room":{"sid":"RM_1","name":M}}),
    );
    h.deliver(&bob[0]);
    assert!(h.meeting.state.session.is_none(), "{:?}", h.meeting.state);
    // A later life of the room still starts a session.
    let carol = participant_events(
        "carol",
        &[Stay {
            join: 90_000,
            leave: None,
        }],
    );
    h.deliver(&carol[0]);
    assert_eq!(h.present(), ["carol"]);
}
