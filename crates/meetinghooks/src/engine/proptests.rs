//! Property tests: random, duplicated and reordered signal streams keep the engine's invariants.

use std::collections::{BTreeMap, HashSet};

use meetinghooks_webhooks::{Event, WebhookType};
use proptest::prelude::*;

use super::*;
use crate::domain::media::{MediaDetails, MediaSignal, Phase};

pub(super) const MEETING: &str = "prop-meeting";
const GRACE_MS: i64 = 10_000;

// Test steps are built once and moved rarely; boxing the signal would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(super) enum Step {
    Signal(Signal),
    /// Advance the wall clock to this time and fire due timers.
    Tick(i64),
    /// `POST /v2/sessions/end` at this time.
    End(i64),
}

fn signal_kind() -> impl Strategy<Value = SignalKind> {
    let participant = prop_oneof![Just("p1"), Just("p2"), Just("p3")].prop_map(String::from);
    let reason = prop_oneof![
        Just(LeaveReason::Left),
        Just(LeaveReason::Disconnected),
        Just(LeaveReason::Removed)
    ];
    prop_oneof![
        4 => participant.clone().prop_map(|id| SignalKind::ParticipantJoined {
            participant_name: format!("name of {id}"),
            participant_id: id,
        }),
        4 => (participant, reason).prop_map(|(participant_id, reason)| SignalKind::ParticipantLeft {
            participant_id,
            reason
        }),
        1 => proptest::option::of(Just("f1".to_string())).prop_map(|file_id| SignalKind::Media(MediaSignal::recording(Phase::Started, file_id))),
        1 => Just(SignalKind::Media(MediaSignal::recording(Phase::Stopped, None))),
        1 => Just(SignalKind::Media(MediaSignal::bare(Resource::Livestream, Phase::Started))),
        1 => Just(SignalKind::Media(MediaSignal::bare(Resource::Livestream, Phase::Stopped))),
        1 => Just(SignalKind::Media(MediaSignal {
            lifecycle: None,
            resource: Resource::Hls,
            phase: Phase::Started,
            details: Box::new(MediaDetails {
                downstream_url: Some("https://cdn.example/x.m3u8".into()),
                ..MediaDetails::default()
            }),
        })),
        1 => Just(SignalKind::Media(MediaSignal::bare(Resource::Hls, Phase::Stopped))),
    ]
}

/// Signals in time order, then shuffled locally, with some repeated (same id).
fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec((signal_kind(), 0i64..8_000, any::<u8>()), 1..60)
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
                match dice % 10 {
                    0 => steps.push(Step::Signal(signal)), // duplicate delivery
                    1 => steps.push(Step::Tick(at + (dice as i64) * 200)),
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
            // Reorder: swap nearby steps, as a network would.
            for (a, b) in swaps {
                let b = a.min(b) + (a.max(b) - a.min(b)).min(3);
                steps.swap(a, b);
            }
            steps
        })
}

/// What a store does around the engine: remember applied signal ids, discard a refused
/// input's changes, and load for each step only what a store loads ([`Meeting::needs`] for a
/// signal or a tick, the session's participants for an end), from rows it wrote back.
#[derive(Default)]
pub(super) struct Harness {
    /// The stored meeting header (`rooms.state`).
    header: MeetingState,
    /// The latest stored record of each participant (`participants`, highest position).
    rows: BTreeMap<String, ParticipantState>,
    /// Ids of committed signals; a refused signal's id is not remembered, as in the stores.
    pub(super) remembered: HashSet<String>,
    pub(super) events: Vec<Emitted>,
    sessions: Vec<SessionState>,
    timelogs: BTreeMap<(String, String), Vec<state::Stay>>,
    clock: i64,
}

impl Harness {
    /// The meeting as a store loads it for a step naming `named`.
    fn load(&self, named: Option<&str>) -> Meeting {
        let mut meeting = Meeting::new(self.header.clone());
        let needed: Vec<String> = meeting.needs(named).map(str::to_owned).collect();
        for id in needed {
            if let Some(row) = self.rows.get(&id) {
                meeting.participants.insert(id, row.clone());
            }
        }
        meeting
    }

    /// `end_session` loads every participant of the ongoing session.
    fn load_session(&self) -> Meeting {
        let mut meeting = Meeting::new(self.header.clone());
        if let Some(session) = &self.header.session {
            for row in self.rows.values().filter(|p| p.session_id == session.id) {
                meeting.participants.insert(row.id.clone(), row.clone());
            }
        }
        meeting
    }

    pub(super) fn run(&mut self, step: &Step) {
        let config = EngineConfig {
            reconnect_grace_ms: GRACE_MS,
        };
        let (mut next, result) = match step {
            Step::Signal(signal) => {
                if self.remembered.contains(&signal.id) {
                    return;
                }
                let mut next = self.load(signal.kind.participant_id());
                // Signals arrive in the wall clock's present or later.
                self.clock = self.clock.max(signal.at.0);
                let result = apply(&mut next, "project", signal, Timestamp(self.clock), &config);
                if result.is_ok() {
                    self.remembered.insert(signal.id.clone());
                }
                (next, result)
            }
            Step::Tick(now) => {
                self.clock = self.clock.max(*now);
                let mut next = self.load(None);
                let outcome = tick(&mut next, MEETING, Timestamp(self.clock));
                (next, Ok(outcome))
            }
            Step::End(now) => {
                let mut next = self.load_session();
                let result = end_session(&mut next, MEETING, SessionEnd::now(Timestamp(*now)));
                (next, result)
            }
        };
        if let Ok(outcome) = result {
            // Written back as the stores do: retired records first, then the changed ones.
            for p in std::mem::take(&mut next.retired) {
                self.timelogs
                    .insert((p.session_id.clone(), p.id.clone()), p.timelog.clone());
                self.rows.insert(p.id.clone(), p);
            }
            for id in &next.changed {
                let p = &next.participants[id];
                self.timelogs
                    .insert((p.session_id.clone(), id.clone()), p.timelog.clone());
                self.rows.insert(id.clone(), p.clone());
            }
            self.header = next.state;
            self.events.extend(outcome.events);
            self.sessions.extend(outcome.ended);
        }
    }

    pub(super) fn finish(&mut self) {
        self.run(&Step::Tick(i64::MAX / 4));
        self.run(&Step::End(0));
    }
}

fn is_catalog_time(text: &str) -> bool {
    let b = text.as_bytes();
    text.len() == 29
        && text.ends_with("+00:00")
        && b[10] == b'T'
        && b[19] == b'.'
        && Timestamp::parse_rfc3339(text).is_some()
}

fn check_invariants(
    events: &[Emitted],
    sessions: &[SessionState],
    timelogs: &BTreeMap<(String, String), Vec<state::Stay>>,
) {
    // 6: sequence numbers run 1, 2, 3... with no gaps.
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.sequence, i as u64 + 1, "sequence gap at {i}");
        assert_eq!(e.event.meeting_id(), MEETING);
    }
    let mut open_session: Option<String> = None;
    let mut closed: HashSet<String> = HashSet::new();
    let mut present: HashSet<String> = HashSet::new();
    let mut media: BTreeMap<&str, bool> = BTreeMap::new();
    for e in events {
        let ty = e.event.webhook_type();
        if ty == WebhookType::SessionStarted {
            // 1: at most one ongoing session; sessions never overlap or reopen.
            assert!(open_session.is_none(), "two ongoing sessions");
            assert!(!closed.contains(&e.session_id), "session id reused");
            open_session = Some(e.session_id.clone());
            continue;
        }
        // 2: nothing outside its session's started..ended span.
        assert_eq!(
            open_session.as_deref(),
            Some(e.session_id.as_str()),
            "{ty} outside its session"
        );
        match &e.event {
            Event::ParticipantJoined(p) => {
                assert!(present.insert(p.participant_id.clone()), "two open stays");
            }
            Event::ParticipantLeft(p) => {
                assert!(present.remove(&p.participant_id), "left without join");
            }
            Event::SessionEnded(s) => {
                // 3 and 4: everything was closed before session-ended.
                assert!(
                    present.is_empty(),
                    "participants still present at session-ended"
                );
                assert!(
                    media.values().all(|active| !active),
                    "media still active at session-ended"
                );
                assert!(is_catalog_time(&s.start) && is_catalog_time(&s.end));
                assert!(Timestamp::parse_rfc3339(&s.end) >= Timestamp::parse_rfc3339(&s.start));
                closed.insert(s.session_id.clone());
                open_session = None;
            }
            other => {
                let kind = other.webhook_type().as_str().split('-').next().unwrap();
                let started = other.webhook_type().as_str().ends_with("-started");
                let was = media.insert(kind, started).unwrap_or(false);
                assert_ne!(was, started, "{} without its pair", other.webhook_type());
            }
        }
    }
    // After `finish`, every session ended.
    assert!(open_session.is_none(), "a session never ended");
    for session in sessions {
        let end = session.end.expect("ended session has an end");
        assert!(end >= session.start);
        assert_eq!(session.present, 0);
        let stays = timelogs
            .iter()
            .filter(|((s, _), _)| *s == session.id)
            .flat_map(|(_, t)| t);
        for stay in stays {
            let stay_end = stay.end.expect("closed stay");
            assert!(stay_end >= stay.start && stay.start >= session.start && stay_end <= end);
        }
    }
    for e in events {
        if let Event::SessionStarted(s) = &e.event {
            assert!(is_catalog_time(&s.start));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn invariants_hold_for_random_streams(steps in steps()) {
        let mut harness = Harness::default();
        for step in &steps {
            harness.run(step);
        }
        harness.finish();
        check_invariants(&harness.events, &harness.sessions, &harness.timelogs);
    }

}

/// Cases of the replay property, which runs a real SQLite store per case (env to raise).
fn replay_cases() -> u32 {
    std::env::var("ENGINE_REPLAY_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(24)
}

/// Runs `steps` through a real SQLite store (its dedupe, its partial loading, its commits),
/// then sends every signal of the prefix that it committed again, as one batch.
fn replay_through_sqlite(steps: &[Step], prefix: usize) -> Result<(), TestCaseError> {
    use crate::sealing::Sealer;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{EventQuery, Store};
    use std::sync::Arc;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("replay.db").display());
        let config = EngineConfig {
            reconnect_grace_ms: GRACE_MS,
        };
        let store = SqliteStore::open(&url, config, Arc::new(Sealer::ephemeral())).expect("open");
        let project = store
            .create_project("replay", [1; 32])
            .await
            .expect("project")
            .id;
        let query = EventQuery {
            limit: 100_000,
            ..EventQuery::default()
        };
        let mut committed: HashSet<String> = HashSet::new();
        let mut replays = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            match step {
                Step::Signal(signal) => {
                    // A refused signal (409) keeps nothing, its id included: not a replay.
                    if let Ok(report) = store.ingest(&project, vec![signal.clone()]).await {
                        if report.accepted == 1 {
                            committed.insert(signal.id.clone());
                        }
                    }
                    if i < prefix && committed.contains(&signal.id) {
                        replays.push(signal.clone());
                    }
                }
                Step::Tick(now) => {
                    store
                        .fire_due_timers(Timestamp(*now))
                        .await
                        .expect("timers");
                }
                Step::End(now) => {
                    let _ = store
                        .end_session(&project, MEETING, SessionEnd::now(Timestamp(*now)))
                        .await;
                }
            }
        }
        let before = store.events(&project, query.clone()).await.expect("events");
        let replayed = replays.len();
        let report = store.ingest(&project, replays).await;
        let report = report.map_err(|e| TestCaseError::fail(format!("replay refused: {e}")))?;
        prop_assert_eq!((report.accepted, report.duplicates), (0, replayed));
        prop_assert_eq!(report.events, 0);
        let after = store.events(&project, query).await.expect("events");
        prop_assert_eq!(after.items.len(), before.items.len());
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(replay_cases()))]

    /// Replays go through the store's real path: its signal ids, not a harness filter.
    #[test]
    fn replaying_any_prefix_adds_no_events(steps in steps(), cut in any::<prop::sample::Index>()) {
        let prefix = cut.index(steps.len() + 1);
        replay_through_sqlite(&steps, prefix)?;
    }
}

#[test]
fn reconnect_race_left_after_rejoin_is_stale() {
    let config = EngineConfig {
        reconnect_grace_ms: GRACE_MS,
    };
    let mut state = Meeting::default();
    let signal = |id: &str, at: i64, kind: SignalKind| Signal {
        id: id.into(),
        meeting_id: MEETING.into(),
        at: Timestamp(at),
        kind,
    };
    let join = || SignalKind::ParticipantJoined {
        participant_id: "p".into(),
        participant_name: "P".into(),
    };
    apply(
        &mut state,
        "project",
        &signal("1", 1_000, join()),
        Timestamp(1_000),
        &config,
    )
    .unwrap();
    apply(
        &mut state,
        "project",
        &signal("3", 3_000, join()),
        Timestamp(3_000),
        &config,
    )
    .unwrap();
    let late_left = SignalKind::ParticipantLeft {
        participant_id: "p".into(),
        reason: LeaveReason::Left,
    };
    let outcome = apply(
        &mut state,
        "project",
        &signal("2", 2_000, late_left),
        Timestamp(3_000),
        &config,
    )
    .unwrap();
    assert!(outcome.stale && outcome.events.is_empty());
    assert!(state.state.session.is_some());
}

#[test]
fn grace_expiry_emits_left_then_session_end_with_media_stopped_first() {
    let config = EngineConfig {
        reconnect_grace_ms: GRACE_MS,
    };
    let mut state = Meeting::default();
    let signal = |id: &str, at: i64, kind: SignalKind| Signal {
        id: id.into(),
        meeting_id: MEETING.into(),
        at: Timestamp(at),
        kind,
    };
    apply(
        &mut state,
        "project",
        &signal(
            "1",
            0,
            SignalKind::ParticipantJoined {
                participant_id: "p".into(),
                participant_name: "P".into(),
            },
        ),
        Timestamp(0),
        &config,
    )
    .unwrap();
    apply(
        &mut state,
        "project",
        &signal(
            "2",
            1,
            SignalKind::Media(MediaSignal::recording(Phase::Started, None)),
        ),
        Timestamp(1),
        &config,
    )
    .unwrap();
    apply(
        &mut state,
        "project",
        &signal(
            "3",
            2,
            SignalKind::ParticipantLeft {
                participant_id: "p".into(),
                reason: LeaveReason::Disconnected,
            },
        ),
        Timestamp(2),
        &config,
    )
    .unwrap();
    assert!(tick(&mut state, MEETING, Timestamp(GRACE_MS))
        .events
        .is_empty());
    let fired = tick(&mut state, MEETING, Timestamp(GRACE_MS + 2));
    let types: Vec<_> = fired
        .events
        .iter()
        .map(|e| e.event.webhook_type().as_str())
        .collect();
    assert_eq!(
        types,
        ["participant-left", "recording-stopped", "session-ended"]
    );
    assert_eq!(state.state.next_deadline(), None);
}
