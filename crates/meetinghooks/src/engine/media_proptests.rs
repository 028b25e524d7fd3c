//! Property tests of the media lifecycle: random, duplicated and reordered media signals
//! over several resources keep every resource on a path of its state machine.

use std::collections::{BTreeMap, HashMap};

use meetinghooks_webhooks::{Event, WebhookType};
use proptest::prelude::*;

use super::proptests::{Harness, Step, MEETING};
use super::*;
use crate::domain::media::{MediaDetails, MediaSignal, Phase, Resource};

fn resource() -> impl Strategy<Value = Resource> {
    let participant = prop_oneof![Just("p1"), Just("p2")].prop_map(String::from);
    prop_oneof![
        Just(Resource::Recording),
        Just(Resource::Livestream),
        Just(Resource::Hls),
        participant
            .clone()
            .prop_map(|participant_id| Resource::ParticipantRecording { participant_id }),
        (participant, prop_oneof![Just("audio"), Just("video")]).prop_map(
            |(participant_id, kind)| Resource::ParticipantTrackRecording {
                participant_id,
                kind: kind.into(),
            }
        ),
    ]
}

/// A media signal as the parser would accept it: the fields each phase requires.
fn media_signal() -> impl Strategy<Value = MediaSignal> {
    (resource(), prop::sample::select(Phase::ALL.to_vec())).prop_map(|(resource, phase)| {
        let phase = match (phase, &resource) {
            (Phase::Playable, r) if *r != Resource::Hls => Phase::Started,
            (phase, _) => phase,
        };
        let mut details = MediaDetails::default();
        match (&resource, phase) {
            (Resource::Hls, Phase::Started | Phase::Playable) => {
                details.playback_hls_url = Some("https://cdn.example/x.m3u8".into());
            }
            (Resource::ParticipantRecording { .. }, Phase::Starting | Phase::Started) => {
                details.file_format = Some("webm".into());
            }
            _ => {}
        }
        MediaSignal {
            // The livestream is an egress's: tracked, so a session waits for its end.
            lifecycle: (resource == Resource::Livestream).then(|| "EG_L".to_owned()),
            resource,
            phase,
            details: Box::new(details),
        }
    })
}

fn signal_kind() -> impl Strategy<Value = SignalKind> {
    let participant = prop_oneof![Just("p1"), Just("p2")].prop_map(String::from);
    // No disconnects: reconnect graces have their own properties, and without them a
    // replay cannot fire a timer.
    let reason = prop_oneof![Just(LeaveReason::Left), Just(LeaveReason::Removed)];
    prop_oneof![
        2 => participant.clone().prop_map(|id| SignalKind::ParticipantJoined {
            participant_name: format!("name of {id}"),
            participant_id: id,
        }),
        1 => (participant, reason).prop_map(|(participant_id, reason)| {
            SignalKind::ParticipantLeft { participant_id, reason }
        }),
        8 => media_signal().prop_map(SignalKind::Media),
    ]
}

/// Signals at strictly increasing times, some repeated (same id), some explicit ends, then
/// swapped locally as a network would.
fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec((signal_kind(), 1i64..5_000, any::<u8>()), 1..80)
        .prop_flat_map(|raw| {
            let mut at = 1_700_000_000_000i64;
            let mut steps = Vec::new();
            for (i, (kind, gap, dice)) in raw.into_iter().enumerate() {
                at += gap;
                let signal = Signal {
                    id: format!("s{i}"),
                    meeting_id: MEETING.into(),
                    at: Timestamp(at),
                    kind,
                };
                steps.push(Step::Signal(signal.clone()));
                match dice % 16 {
                    0 | 1 => steps.push(Step::Signal(signal)),
                    2 if dice > 200 => steps.push(Step::End(at)),
                    _ => {}
                }
            }
            let len = steps.len();
            (
                Just(steps),
                prop::collection::vec((0..len, 0..len), 0..len / 3 + 1),
            )
        })
        .prop_map(|(mut steps, swaps)| {
            for (a, b) in swaps {
                let b = a.min(b) + (a.max(b) - a.min(b)).min(3);
                steps.swap(a, b);
            }
            steps
        })
}

/// The resource and phase a media event reports; `None` for participant and session events.
fn media_of(event: &Event) -> Option<(Resource, Phase)> {
    let name = event.webhook_type().as_str();
    let (resource_name, phase_name) = name.rsplit_once('-')?;
    let phase = Phase::ALL.into_iter().find(|p| p.name() == phase_name)?;
    let resource = match event {
        Event::ParticipantRecordingStarting(d)
        | Event::ParticipantRecordingStarted(d)
        | Event::ParticipantRecordingStopping(d) => Resource::ParticipantRecording {
            participant_id: d.participant_id.clone(),
        },
        Event::ParticipantRecordingStopped(d) => Resource::ParticipantRecording {
            participant_id: d.participant_id.clone(),
        },
        Event::ParticipantRecordingFailed(d) => Resource::ParticipantRecording {
            participant_id: d.participant_id.clone(),
        },
        Event::ParticipantTrackRecordingStarting(d)
        | Event::ParticipantTrackRecordingStarted(d)
        | Event::ParticipantTrackRecordingStopping(d)
        | Event::ParticipantTrackRecordingFailed(d) => Resource::ParticipantTrackRecording {
            participant_id: d.participant_id.clone(),
            kind: d.kind.clone(),
        },
        Event::ParticipantTrackRecordingStopped(d) => Resource::ParticipantTrackRecording {
            participant_id: d.participant_id.clone(),
            kind: d.kind.clone(),
        },
        _ => match resource_name {
            "recording" => Resource::Recording,
            "livestream" => Resource::Livestream,
            "hls" => Resource::Hls,
            _ => return None,
        },
    };
    Some((resource, phase))
}

/// Where a resource is, as its receiver has seen it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Starting,
    Started,
    Playable,
    Stopping,
}

/// The receiver's view: may `phase` follow `seen`?
fn follows(seen: Option<Seen>, phase: Phase, resource: &Resource) -> Option<Option<Seen>> {
    use Phase as P;
    match (seen, phase) {
        (None, P::Starting) => Some(Some(Seen::Starting)),
        (None | Some(Seen::Starting), P::Started) => Some(Some(Seen::Started)),
        (Some(Seen::Started), P::Playable) if *resource == Resource::Hls => {
            Some(Some(Seen::Playable))
        }
        (Some(Seen::Starting | Seen::Started | Seen::Playable), P::Stopping) => {
            Some(Some(Seen::Stopping))
        }
        (Some(_), P::Stopped | P::Failed) => Some(None),
        _ => None,
    }
}

fn check_media_paths(events: &[Emitted]) {
    let mut seen: HashMap<(String, Resource), Seen> = HashMap::new();
    let mut ended: Vec<String> = Vec::new();
    for e in events {
        assert!(
            !ended.contains(&e.session_id),
            "{} after its session ended",
            e.event.webhook_type()
        );
        if e.event.webhook_type() == WebhookType::SessionEnded {
            let live: Vec<_> = seen.keys().filter(|(s, _)| *s == e.session_id).collect();
            assert!(live.is_empty(), "still live at session-ended: {live:?}");
            ended.push(e.session_id.clone());
            continue;
        }
        let Some((resource, phase)) = media_of(&e.event) else {
            continue;
        };
        let key = (e.session_id.clone(), resource);
        let before = seen.get(&key).copied();
        match follows(before, phase, &key.1) {
            Some(Some(next)) => {
                seen.insert(key, next);
            }
            Some(None) => {
                seen.remove(&key);
            }
            None => panic!("{:?}: {phase:?} after {before:?}", key.1),
        }
        if let Event::HlsStarted(d) = &e.event {
            assert!(!d.playback_hls_url.is_empty() && !d.downstream_url.is_empty());
        }
        if let Event::ParticipantRecordingStarted(d) = &e.event {
            assert_eq!(d.file_format, "webm");
        }
    }
    assert!(
        seen.is_empty(),
        "left live after every session ended: {seen:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_resource_follows_its_state_machine(steps in steps()) {
        let mut harness = Harness::default();
        for step in &steps {
            harness.run(step);
        }
        // Replays: every applied media signal again under a new id, as a media layer that
        // lost its acknowledgements would send it. Each is stale or a repeat: nothing new.
        let before = harness.events.len();
        for (i, step) in steps.iter().enumerate() {
            if let Step::Signal(signal) = step {
                let applied = harness.remembered.contains(&signal.id);
                if applied && matches!(signal.kind, SignalKind::Media(_)) {
                    let mut again = signal.clone();
                    again.id = format!("replay-{i}");
                    harness.run(&Step::Signal(again));
                }
            }
        }
        let replayed: Vec<_> = harness.events[before..].iter().map(|e| e.event.webhook_type()).collect();
        prop_assert!(replayed.is_empty(), "replays emitted {:?}", replayed);
        harness.finish();
        check_media_paths(&harness.events);
        let per_type: BTreeMap<WebhookType, usize> =
            harness.events.iter().fold(BTreeMap::new(), |mut m, e| {
                *m.entry(e.event.webhook_type()).or_default() += 1;
                m
            });
        prop_assert!(per_type.values().sum::<usize>() == harness.events.len());
    }
}

/// The paths the properties rely on, spelled out once.
#[test]
fn skipped_phases_emit_what_the_receiver_must_see() {
    let mut harness = Harness::default();
    let mut at = 1_700_000_000_000;
    let mut send = |kind: SignalKind| {
        at += 1_000;
        let id = format!("x{at}");
        harness.run(&Step::Signal(Signal {
            id,
            meeting_id: MEETING.into(),
            at: Timestamp(at),
            kind,
        }));
        let events = std::mem::take(&mut harness.events);
        events
            .into_iter()
            .map(|e| e.event.webhook_type().as_str())
            .collect::<Vec<_>>()
    };
    let join = SignalKind::ParticipantJoined {
        participant_id: "p1".into(),
        participant_name: "P".into(),
    };
    assert_eq!(send(join), ["session-started", "participant-joined"]);
    let hls = |phase| {
        let mut m = MediaSignal::bare(Resource::Hls, phase);
        m.details.playback_hls_url = Some("https://cdn.example/x.m3u8".into());
        SignalKind::Media(m)
    };
    assert_eq!(send(hls(Phase::Stopping)), Vec::<&str>::new());
    assert_eq!(send(hls(Phase::Starting)), ["hls-starting"]);
    assert_eq!(send(hls(Phase::Playable)), ["hls-started", "hls-playable"]);
    assert_eq!(send(hls(Phase::Started)), Vec::<&str>::new());
    assert_eq!(send(hls(Phase::Stopped)), ["hls-stopped"]);
    assert_eq!(send(hls(Phase::Failed)), Vec::<&str>::new());
    let rec = |phase| SignalKind::Media(MediaSignal::recording(phase, None));
    assert_eq!(send(rec(Phase::Starting)), ["recording-starting"]);
    assert_eq!(send(rec(Phase::Stopped)), ["recording-stopped"]);
    assert_eq!(send(rec(Phase::Starting)), ["recording-starting"]);
    let live = |phase| SignalKind::Media(MediaSignal::bare(Resource::Livestream, phase));
    assert_eq!(send(live(Phase::Started)), ["livestream-started"]);
    let left = SignalKind::ParticipantLeft {
        participant_id: "p1".into(),
        reason: LeaveReason::Left,
    };
    // The session's end: a recording still starting failed, a livestream stopped.
    assert_eq!(
        send(left),
        [
            "participant-left",
            "recording-failed",
            "livestream-stopped",
            "session-ended"
        ]
    );
}
