//! The media state machine's table, and headers written before `media` existed.

use meetinghooks_webhooks::Event;

use super::media::transition;
use super::state::LivePhase;
use crate::domain::media::{MediaSignal, Phase};
use crate::domain::timestamp::Timestamp;
use crate::engine::{apply, end_session, EngineConfig, Meeting, MeetingState, SessionEnd};

/// A header written before `media` existed still loads, and its running media stop.
#[test]
fn a_header_from_before_media_states_keeps_its_running_media() {
    let old = r#"{"sequence":4,"last_at":{"recording":1500},"session":{"id":"s1",
        "start":1000,"latest":1500,"end":null,"present":1,"joined":1,"graces":{},
        "recording":"f1","livestream":true,"hls":"https://cdn.example/x.m3u8"}}"#;
    let state: MeetingState = serde_json::from_str(old).unwrap();
    let mut meeting = Meeting::new(state);
    let stop = crate::domain::signal::Signal {
        id: "x".into(),
        meeting_id: "m".into(),
        at: Timestamp(2_000),
        kind: crate::domain::signal::SignalKind::Media(MediaSignal::recording(
            Phase::Stopped,
            None,
        )),
    };
    let config = EngineConfig {
        reconnect_grace_ms: 0,
    };
    let outcome = apply(&mut meeting, "p", &stop, Timestamp(2_000), &config).unwrap();
    let [stopped] = outcome.events.as_slice() else {
        panic!("{:?}", outcome.events)
    };
    assert_eq!(stopped.sequence, 5);
    let Event::RecordingStopped(data) = &stopped.event else {
        panic!("{stopped:?}")
    };
    assert_eq!(
        (data.file_id.as_str(), data.session_id.as_str()),
        ("f1", "s1")
    );
    // Written back in the new form only.
    let json = serde_json::to_string(&meeting.state).unwrap();
    assert!(!json.contains(r#""livestream":true"#) && json.contains(r#""media""#));
    let outcome = end_session(&mut meeting, "m", SessionEnd::now(Timestamp(3_000))).unwrap();
    let names: Vec<_> = outcome
        .events
        .iter()
        .map(|e| e.event.webhook_type().as_str())
        .collect();
    assert_eq!(
        names,
        ["livestream-stopped", "hls-stopped", "session-ended"]
    );
}

/// One row of the table: from `current`, signal `target` emits `emit` and leaves `next`.
struct Case {
    current: Option<LivePhase>,
    target: Phase,
    emit: &'static [Phase],
    next: Option<LivePhase>,
}

#[test]
fn the_state_machine_table() {
    use LivePhase as L;
    use Phase::*;
    let cases: &[Case] = &[
        Case {
            current: None,
            target: Starting,
            emit: &[Starting],
            next: Some(L::Starting),
        },
        Case {
            current: None,
            target: Started,
            emit: &[Started],
            next: Some(L::Started),
        },
        Case {
            current: None,
            target: Playable,
            emit: &[Started, Playable],
            next: Some(L::Playable),
        },
        Case {
            current: None,
            target: Stopping,
            emit: &[],
            next: None,
        },
        Case {
            current: None,
            target: Stopped,
            emit: &[],
            next: None,
        },
        Case {
            current: None,
            target: Failed,
            emit: &[],
            next: None,
        },
        Case {
            current: Some(L::Starting),
            target: Starting,
            emit: &[],
            next: Some(L::Starting),
        },
        Case {
            current: Some(L::Starting),
            target: Started,
            emit: &[Started],
            next: Some(L::Started),
        },
        Case {
            current: Some(L::Starting),
            target: Playable,
            emit: &[Started, Playable],
            next: Some(L::Playable),
        },
        Case {
            current: Some(L::Starting),
            target: Stopping,
            emit: &[Stopping],
            next: Some(L::Stopping),
        },
        Case {
            current: Some(L::Starting),
            target: Stopped,
            emit: &[Stopped],
            next: None,
        },
        Case {
            current: Some(L::Starting),
            target: Failed,
            emit: &[Failed],
            next: None,
        },
        Case {
            current: Some(L::Started),
            target: Starting,
            emit: &[],
            next: Some(L::Started),
        },
        Case {
            current: Some(L::Started),
            target: Started,
            emit: &[],
            next: Some(L::Started),
        },
        Case {
            current: Some(L::Started),
            target: Playable,
            emit: &[Playable],
            next: Some(L::Playable),
        },
        Case {
            current: Some(L::Started),
            target: Stopping,
            emit: &[Stopping],
            next: Some(L::Stopping),
        },
        Case {
            current: Some(L::Started),
            target: Stopped,
            emit: &[Stopped],
            next: None,
        },
        Case {
            current: Some(L::Playable),
            target: Started,
            emit: &[],
            next: Some(L::Playable),
        },
        Case {
            current: Some(L::Playable),
            target: Failed,
            emit: &[Failed],
            next: None,
        },
        Case {
            current: Some(L::Stopping),
            target: Started,
            emit: &[],
            next: Some(L::Stopping),
        },
        Case {
            current: Some(L::Stopping),
            target: Stopping,
            emit: &[],
            next: Some(L::Stopping),
        },
        Case {
            current: Some(L::Stopping),
            target: Stopped,
            emit: &[Stopped],
            next: None,
        },
        Case {
            current: Some(L::Stopping),
            target: Failed,
            emit: &[Failed],
            next: None,
        },
    ];
    for case in cases {
        let t = transition(case.current, case.target);
        assert_eq!(
            (t.emit.as_slice(), t.next),
            (case.emit, case.next),
            "{:?} + {:?}",
            case.current,
            case.target
        );
    }
}
