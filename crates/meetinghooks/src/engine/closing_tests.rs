//! The closing rule, step by step: a session whose participants are gone waits for its live
//! egresses, so their `recording-stopped` carries the file, then `session-ended`.

use meetinghooks_webhooks::Event;

use super::state::ClosingCause;
use super::*;
use crate::domain::media::{MediaSignal, Phase, Resource};

const M: &str = "m";
const CONFIG: EngineConfig = EngineConfig {
    reconnect_grace_ms: 0,
};

fn signal(id: &str, at: i64, kind: SignalKind) -> Signal {
    Signal {
        id: id.into(),
        meeting_id: M.into(),
        at: Timestamp(at),
        kind,
    }
}

fn join(id: &str, at: i64, who: &str) -> Signal {
    let kind = SignalKind::ParticipantJoined {
        participant_id: who.into(),
        participant_name: who.into(),
    };
    signal(id, at, kind)
}

fn leave(id: &str, at: i64, who: &str) -> Signal {
    let kind = SignalKind::ParticipantLeft {
        participant_id: who.into(),
        reason: LeaveReason::Left,
    };
    signal(id, at, kind)
}

/// A recording signal of egress `egress` (its lifecycle id and file id), with a file when
/// it stops.
fn egress(id: &str, at: i64, egress: &str, phase: Phase) -> Signal {
    let mut media = MediaSignal::recording(phase, Some(egress.into()));
    media.lifecycle = Some(egress.into());
    if phase == Phase::Stopped {
        media.details.file_path = Some(format!("{egress}.mp4"));
        media.details.file_url = Some(format!("https://cdn.example/{egress}.mp4"));
    }
    signal(id, at, SignalKind::Media(media))
}

/// Applies each signal (received when it happened) and returns what was emitted, named.
fn run(meeting: &mut Meeting, signals: &[Signal]) -> Vec<String> {
    let mut names = Vec::new();
    for s in signals {
        let outcome = apply(meeting, "p", s, s.at, &CONFIG).expect("applies");
        names.extend(outcome.events.iter().map(name));
    }
    names
}

/// An event's type, with the file of a `recording-stopped`.
fn name(e: &Emitted) -> String {
    match &e.event {
        Event::RecordingStopped(r) => format!(
            "recording-stopped {} {}",
            r.file_id,
            r.file_url.as_deref().unwrap_or("-")
        ),
        Event::SessionEnded(s) => format!("session-ended {}", s.end),
        other => other.webhook_type().as_str().to_owned(),
    }
}

fn ended_at(ms: i64) -> String {
    format!("session-ended {}", Timestamp(ms).to_rfc3339())
}

fn started_meeting() -> Meeting {
    let mut meeting = Meeting::new(MeetingState::default());
    let names = run(
        &mut meeting,
        &[
            join("j", 1_000, "a"),
            egress("e0", 2_000, "EG_1", Phase::Started),
        ],
    );
    assert_eq!(
        names,
        ["session-started", "participant-joined", "recording-started"]
    );
    meeting
}

#[test]
fn the_egress_end_after_the_last_leave_carries_the_file_then_the_session_ends() {
    let mut meeting = started_meeting();
    assert_eq!(
        run(&mut meeting, &[leave("l", 5_000, "a")]),
        ["participant-left"]
    );
    let closing = meeting.state.session.as_ref().unwrap().closing.unwrap();
    assert_eq!(closing.cause, ClosingCause::Emptied);
    assert_eq!(
        meeting.state.next_deadline(),
        Some(Timestamp(5_000 + TRACKED_MEDIA_WAIT_MS))
    );
    let names = run(&mut meeting, &[egress("e1", 9_000, "EG_1", Phase::Stopped)]);
    assert_eq!(
        names,
        [
            "recording-stopped EG_1 https://cdn.example/EG_1.mp4".to_owned(),
            ended_at(5_000)
        ]
    );
    assert!(meeting.state.session.is_none());
}

#[test]
fn room_finished_waits_for_every_live_egress() {
    let mut meeting = started_meeting();
    run(&mut meeting, &[egress("e1", 2_500, "EG_2", Phase::Started)]);
    let end = SessionEnd::room_finished(Timestamp(6_000), Timestamp(6_000));
    let outcome = end_session(&mut meeting, M, end).unwrap();
    assert_eq!(
        outcome.events.iter().map(name).collect::<Vec<_>>(),
        ["participant-left"]
    );
    assert!(outcome.ended.is_empty());
    let names = run(
        &mut meeting,
        &[
            egress("e2", 8_000, "EG_2", Phase::Stopped),
            egress("e3", 9_000, "EG_1", Phase::Stopped),
        ],
    );
    assert_eq!(
        names,
        [
            "recording-stopped EG_2 https://cdn.example/EG_2.mp4".to_owned(),
            "recording-stopped EG_1 https://cdn.example/EG_1.mp4".to_owned(),
            ended_at(6_000)
        ]
    );
}

#[test]
fn the_deadline_ends_the_session_without_the_file() {
    let mut meeting = started_meeting();
    run(&mut meeting, &[leave("l", 5_000, "a")]);
    let early = tick(
        &mut meeting,
        M,
        Timestamp(5_000 + TRACKED_MEDIA_WAIT_MS - 1),
    );
    assert!(early.events.is_empty());
    let due = tick(&mut meeting, M, Timestamp(5_000 + TRACKED_MEDIA_WAIT_MS));
    assert_eq!(
        due.events.iter().map(name).collect::<Vec<_>>(),
        ["recording-stopped EG_1 -".to_owned(), ended_at(5_000)]
    );
    // Its end arriving later finds no session: refused, as media outside a session is.
    let late = apply(
        &mut meeting,
        "p",
        &egress("e1", 9_000, "EG_1", Phase::Stopped),
        Timestamp(700_000),
        &CONFIG,
    );
    assert!(matches!(late, Err(Conflict::NoOngoingSession(_))));
}

#[test]
fn a_join_while_emptied_comes_back_into_the_recorded_session() {
    let mut meeting = started_meeting();
    let names = run(
        &mut meeting,
        &[
            leave("l", 5_000, "a"),
            join("j2", 7_000, "b"),
            egress("e1", 9_000, "EG_1", Phase::Stopped),
            leave("l2", 10_000, "b"),
        ],
    );
    assert_eq!(
        names,
        [
            "participant-left".to_owned(),
            "participant-joined".to_owned(),
            "recording-stopped EG_1 https://cdn.example/EG_1.mp4".to_owned(),
            "participant-left".to_owned(),
            ended_at(10_000)
        ]
    );
}

#[test]
fn a_late_room_finished_waits_the_whole_time_from_its_arrival() {
    let mut meeting = started_meeting();
    // Dated 6 s, but it reached us 20 minutes later (LiveKit retried while we were down).
    let received = 6_000 + 20 * 60 * 1000;
    let end = SessionEnd::room_finished(Timestamp(6_000), Timestamp(received));
    end_session(&mut meeting, M, end).unwrap();
    let closing = meeting.state.session.as_ref().and_then(|s| s.closing);
    let deadline = closing.expect("waiting for its egresses").deadline;
    assert_eq!(deadline, Timestamp(received + TRACKED_MEDIA_WAIT_MS));
}

#[test]
fn a_join_after_room_finished_starts_a_new_session_after_the_old_one_ends() {
    let mut meeting = started_meeting();
    let end = SessionEnd::room_finished(Timestamp(6_000), Timestamp(6_000));
    end_session(&mut meeting, M, end).unwrap();
    let names = run(&mut meeting, &[join("j2", 7_000, "b")]);
    assert_eq!(
        names,
        [
            "recording-stopped EG_1 -".to_owned(),
            ended_at(6_000),
            "session-started".to_owned(),
            "participant-joined".to_owned()
        ]
    );
}

#[test]
fn nothing_opens_in_a_closing_session_and_plain_media_close_at_the_leave() {
    let mut meeting = started_meeting();
    let plain = signal(
        "h",
        3_000,
        SignalKind::Media(MediaSignal::bare(Resource::Livestream, Phase::Started)),
    );
    run(&mut meeting, &[plain]);
    // The untracked livestream closes with the leave, as it always did.
    let names = run(&mut meeting, &[leave("l", 5_000, "a")]);
    assert_eq!(names, ["participant-left", "livestream-stopped"]);
    // A start of another egress is stale now: a receiver would never see it end.
    let outcome = apply(
        &mut meeting,
        "p",
        &egress("e9", 4_000, "EG_9", Phase::Started),
        Timestamp(6_000),
        &CONFIG,
    )
    .unwrap();
    assert!(outcome.stale && outcome.events.is_empty());
}

#[test]
fn two_egresses_of_one_kind_are_two_lifecycles() {
    let mut meeting = started_meeting();
    let names = run(
        &mut meeting,
        &[
            egress("e1", 2_500, "EG_2", Phase::Started),
            egress("e2", 3_000, "EG_2", Phase::Stopped),
            egress("e3", 3_500, "EG_1", Phase::Stopped),
            // Plain signals keep their own, single lifecycle beside them.
            signal(
                "p1",
                3_600,
                SignalKind::Media(MediaSignal::recording(Phase::Started, Some("F".into()))),
            ),
        ],
    );
    assert_eq!(
        names,
        [
            "recording-started".to_owned(),
            "recording-stopped EG_2 https://cdn.example/EG_2.mp4".to_owned(),
            "recording-stopped EG_1 https://cdn.example/EG_1.mp4".to_owned(),
            "recording-started".to_owned(),
        ]
    );
    // Per-lifecycle clocks go with their session; the floor stands in for them.
    run(&mut meeting, &[leave("l", 5_000, "a")]);
    assert!(meeting.state.last_at.keys().all(|k| !k.contains(':')));
}

#[test]
fn room_finished_dated_before_the_session_is_stale_but_a_request_is_not() {
    let mut meeting = started_meeting();
    let old = SessionEnd::room_finished(Timestamp(500), Timestamp(500));
    let refused = end_session(&mut meeting, M, old);
    assert!(
        matches!(refused, Err(Conflict::EndedBeforeSession { .. })),
        "{refused:?}"
    );
    assert!(meeting.state.session.is_some());
    let outcome = end_session(&mut meeting, M, SessionEnd::now(Timestamp(500))).unwrap();
    assert_eq!(outcome.ended.len(), 1);
}

/// A header from before closing and lifecycles loads, and its media keep working.
#[test]
fn a_header_from_before_lifecycles_loads() {
    let old = r#"{"sequence":3,"last_at":{"recording":1500},"session":{"id":"s1",
        "start":1000,"latest":1500,"end":null,"present":1,"joined":1,"graces":{},
        "media":[{"resource":"recording","phase":"started","fileId":"f1"}]}}"#;
    let state: MeetingState = serde_json::from_str(old).unwrap();
    let session = state.session.as_ref().unwrap();
    assert_eq!(
        (session.closing, session.media[0].lifecycle.clone()),
        (None, None)
    );
    let mut meeting = Meeting::new(state);
    meeting.participants.insert(
        "a".into(),
        ParticipantState {
            id: "a".into(),
            session_id: "s1".into(),
            timelog: vec![Stay {
                start: Timestamp(1_000),
                end: None,
            }],
            ..ParticipantState::default()
        },
    );
    let names = run(&mut meeting, &[leave("l", 2_000, "a")]);
    assert_eq!(
        names,
        [
            "participant-left".to_owned(),
            "recording-stopped f1 -".to_owned(),
            ended_at(2_000)
        ]
    );
}
