//! Property tests: two file egresses of one room running at once, ending around (mostly
//! after) `room_finished`, delivered in any order with repeats. Each egress's events form a
//! valid path, each stop carries its own file, and the session ends after all of them.

use std::collections::BTreeMap;

use meetinghooks_webhooks::Event;
use proptest::prelude::*;
use serde_json::{json, Value};

use super::proptests::{delivered, participant_events, secs, Harness, Stay, M, T_MS};

/// One room-composite file egress: started at `start`, active, ending and COMPLETE (with its
/// file) at `end` (ms offsets), each event a separate body as LiveKit sends them.
fn file_egress(egress_id: &str, start: i64, active: i64, end: i64) -> Vec<Value> {
    let phases = [
        ("egress_started", None, start),
        ("egress_updated", Some("EGRESS_ACTIVE"), active),
        ("egress_updated", Some("EGRESS_ENDING"), end),
        ("egress_ended", Some("EGRESS_COMPLETE"), end + 1),
    ];
    phases
        .into_iter()
        .enumerate()
        .map(|(n, (event, status, at))| {
            let mut info = json!({"egressId":egress_id,"roomName":M,
                "updatedAt":((T_MS + at) * 1_000_000).to_string(),
                "roomComposite":{"fileOutputs":[{"filepath":format!("{egress_id}.mp4")}]}});
            if let Some(status) = status {
                info["status"] = json!(status);
            }
            if event == "egress_ended" {
                info["fileResults"] = json!([{"filename":format!("{egress_id}.mp4"),
                    "location":format!("https://bucket.example.com/{egress_id}.mp4")}]);
            }
            json!({"event":event,"id":format!("EV_{egress_id}_{n}"),"createdAt":secs(at),
                "egressInfo":info})
        })
        .collect()
}

/// The phase a recording event reports, if it is one.
fn recording_phase(event: &Event) -> Option<&'static str> {
    Some(match event {
        Event::RecordingStarting(_) => "starting",
        Event::RecordingStarted(_) => "started",
        Event::RecordingStopping(_) => "stopping",
        Event::RecordingStopped(_) => "stopped",
        Event::RecordingFailed(_) => "failed",
        _ => return None,
    })
}

/// A lifecycle's phases in the catalog's order, each at most once, opened by starting or
/// started, closed by stopped or failed at most once and last.
fn is_valid_path(phases: &[&str]) -> bool {
    const ORDER: [&str; 4] = ["starting", "started", "stopping", "stopped"];
    let rank = |p: &str| match p {
        "failed" => 3,
        p => ORDER
            .iter()
            .position(|o| *o == p)
            .expect("a recording phase"),
    };
    let opens = phases.first().is_none_or(|p| rank(p) <= 1);
    let increasing = phases.windows(2).all(|w| rank(w[0]) < rank(w[1]));
    opens && increasing
}

/// Bodies of the meeting: two overlapping egresses and `room_finished` at 10 s; each
/// egress ends `end_after_ms` after it (negative: before).
fn meeting(starts: [(i64, i64); 2], ends: [i64; 2]) -> Vec<Value> {
    let mut bodies = Vec::new();
    for (i, ((start, active), end)) in starts.into_iter().zip(ends).enumerate() {
        let end = 10_000 + end;
        let active = (start + active).min(end - 1);
        bodies.extend(file_egress(
            &format!("EG_{i}"),
            start.min(active),
            active,
            end,
        ));
    }
    bodies.push(
        json!({"event":"room_finished","id":"EV_rf","createdAt":secs(10_000),
        "room":{"sid":"RM_1","name":M}}),
    );
    bodies
}

fn any_meeting() -> impl Strategy<Value = Vec<Value>> {
    let start = (1..4_000_i64, 1..4_000_i64);
    // Mostly after room_finished, as LiveKit's egress finishes its file after the room.
    let end = -3_000..20_000_i64;
    ([start.clone(), start], [end.clone(), end])
        .prop_flat_map(|(starts, ends)| delivered(meeting(starts, ends)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn concurrent_egresses_each_report_their_file_and_end_before_the_session(
        order in any_meeting()
    ) {
        let mut h = Harness::new();
        // The host is inside first, until room_finished removes them.
        h.deliver(&participant_events("host", &[Stay { join: 0, leave: None }])[0]);
        for body in &order {
            h.deliver(body);
        }
        // Every egress ended, so nothing holds the session open any more.
        prop_assert!(h.meeting.state.session.is_none(), "{:?}", h.meeting.state);
        let ended = h
            .log
            .iter()
            .position(|(_, e)| matches!(e.event, Event::SessionEnded(_)));
        prop_assert_eq!(ended, Some(h.log.len() - 1), "nothing after session-ended");
        let mut paths: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for (lifecycle, emitted) in &h.log {
            let Some(phase) = recording_phase(&emitted.event) else { continue };
            // Only the egresses' own signals move their recordings: none waited out.
            let lifecycle = lifecycle.clone().expect("a recording event from its egress");
            if let Event::RecordingStopped(stopped) = &emitted.event {
                prop_assert_eq!(&stopped.file_id, &lifecycle);
                prop_assert_eq!(stopped.file_path.clone(), Some(format!("{lifecycle}.mp4")));
                prop_assert_eq!(
                    stopped.file_url.clone(),
                    Some(format!("https://bucket.example.com/{lifecycle}.mp4"))
                );
            }
            paths.entry(lifecycle).or_default().push(phase);
        }
        for (lifecycle, phases) in &paths {
            prop_assert!(is_valid_path(phases), "{}: {:?}", lifecycle, phases);
            // Opened, so closed: with its file, before session-ended.
            prop_assert_eq!(phases.last().copied(), Some("stopped"), "{}", lifecycle);
        }
        // An egress whose start arrived first is always reported whole.
        for i in 0..2 {
            let id = format!("EV_EG_{i}_0");
            let first = order.iter().position(|b| b["id"].as_str().is_some_and(|x| x.starts_with(&format!("EV_EG_{i}_"))));
            let rf = order.iter().position(|b| b["id"] == "EV_rf");
            if first == order.iter().position(|b| b["id"] == id.as_str()) && first < rf {
                prop_assert!(paths.contains_key(&format!("EG_{i}")), "EG_{} lost: {:?}", i, paths);
            }
        }
    }
}

#[test]
fn the_path_check_refuses_what_a_receiver_must_not_see() {
    assert!(is_valid_path(&[
        "starting", "started", "stopping", "stopped"
    ]));
    assert!(is_valid_path(&["started", "stopped"]));
    assert!(!is_valid_path(&["stopped"]));
    assert!(!is_valid_path(&["started", "stopped", "stopped"]));
    assert!(!is_valid_path(&["started", "stopped", "started"]));
}
