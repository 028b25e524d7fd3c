//! The operations a case is made of, and the strategy that generates (and shrinks) them.

use meetinghooks::domain::endpoint::{Endpoint, Ordering};
use meetinghooks::domain::media::{MediaSignal, Phase};
use meetinghooks::domain::signal::{LeaveReason, Signal, SignalKind};
use meetinghooks::domain::subscription::Subscription;
use meetinghooks::domain::timestamp::Timestamp;
use proptest::prelude::*;

/// An endpoint every case starts with.
pub struct EndpointSpec {
    pub id: &'static str,
    pub ordered: bool,
    /// `None`: every event.
    pub events: Option<&'static [&'static str]>,
}

pub const ENDPOINTS: [EndpointSpec; 3] = [
    EndpointSpec {
        id: "ep_ordered",
        ordered: true,
        events: None,
    },
    EndpointSpec {
        id: "ep_unordered",
        ordered: false,
        events: None,
    },
    EndpointSpec {
        id: "ep_joins",
        ordered: true,
        events: Some(&["participant-joined", "session-ended"]),
    },
];

pub const MEETINGS: [&str; 3] = ["m0", "m1", "m2"];
pub const PARTICIPANTS: [&str; 3] = ["p0", "p1", "p2"];

#[derive(Debug, Clone)]
pub enum SignalSpec {
    Join {
        meeting: usize,
        participant: usize,
    },
    Leave {
        meeting: usize,
        participant: usize,
        reason: LeaveReason,
    },
    RecordingStarted {
        meeting: usize,
    },
    RecordingStopped {
        meeting: usize,
    },
}

/// One signal: its id comes from a small pool, so repeats and reuse across meetings happen.
#[derive(Debug, Clone)]
pub struct SignalOp {
    pub id: u8,
    pub spec: SignalSpec,
}

/// What the dispatcher decided after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Success,
    RetrySoon,
    RetryFar,
    Exhausted,
    Gone,
}

impl Next {
    pub fn retry_after_ms(self) -> i64 {
        match self {
            Next::RetrySoon => 5_000,
            _ => 3_600_000,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Op {
    Ingest(Vec<SignalOp>),
    /// A leasing round for one endpoint.
    Lease(usize),
    /// Outcomes of held leases (picked by index, stale ones included), written as one batch.
    Settle(Vec<(usize, Next)>),
    Advance(i64),
    Disable(usize),
    Enable(usize),
    SetOrdering(usize, Ordering),
    Recover(usize),
    /// A manual resend of the message picked by index among all messages.
    Resend(usize),
    FireTimers,
    EndSession(usize),
    /// The process dies and starts again; its dispatcher's first round leases what is due.
    Restart,
}

fn signal_op() -> impl Strategy<Value = SignalOp> {
    let (m, p) = (0..MEETINGS.len(), 0..PARTICIPANTS.len());
    let reason = prop_oneof![Just(LeaveReason::Left), Just(LeaveReason::Disconnected)];
    let spec = prop_oneof![
        4 => (m.clone(), p.clone()).prop_map(|(meeting, participant)| SignalSpec::Join { meeting, participant }),
        3 => (m.clone(), p, reason).prop_map(|(meeting, participant, reason)| SignalSpec::Leave { meeting, participant, reason }),
        1 => m.clone().prop_map(|meeting| SignalSpec::RecordingStarted { meeting }),
        1 => m.prop_map(|meeting| SignalSpec::RecordingStopped { meeting }),
    ];
    (0u8..6, spec).prop_map(|(id, spec)| SignalOp { id, spec })
}

fn next() -> impl Strategy<Value = Next> {
    prop_oneof![
        4 => Just(Next::Success),
        2 => Just(Next::RetrySoon),
        1 => Just(Next::RetryFar),
        1 => Just(Next::Exhausted),
        1 => Just(Next::Gone),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let endpoint = 0..ENDPOINTS.len();
    let ordering = prop_oneof![Just(Ordering::Meeting), Just(Ordering::None)];
    prop_oneof![
        6 => prop::collection::vec(signal_op(), 1..4).prop_map(Op::Ingest),
        5 => endpoint.clone().prop_map(Op::Lease),
        6 => prop::collection::vec((0usize..8, next()), 1..4).prop_map(Op::Settle),
        3 => prop_oneof![Just(100i64), Just(31_000), Just(61_000)].prop_map(Op::Advance),
        1 => endpoint.clone().prop_map(Op::Disable),
        1 => endpoint.clone().prop_map(Op::Enable),
        1 => (endpoint.clone(), ordering).prop_map(|(e, o)| Op::SetOrdering(e, o)),
        1 => endpoint.prop_map(Op::Recover),
        2 => (0usize..32).prop_map(Op::Resend),
        1 => Just(Op::FireTimers),
        1 => (0..MEETINGS.len()).prop_map(Op::EndSession),
        1 => Just(Op::Restart),
    ]
}

pub fn sequences() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 1..30)
}

pub fn signal(op: &SignalOp, at: i64) -> Signal {
    let (meeting, kind) = match &op.spec {
        SignalSpec::Join {
            meeting,
            participant,
        } => (
            *meeting,
            SignalKind::ParticipantJoined {
                participant_id: PARTICIPANTS[*participant].into(),
                participant_name: format!("Name {participant}"),
            },
        ),
        SignalSpec::Leave {
            meeting,
            participant,
            reason,
        } => (
            *meeting,
            SignalKind::ParticipantLeft {
                participant_id: PARTICIPANTS[*participant].into(),
                reason: *reason,
            },
        ),
        SignalSpec::RecordingStarted { meeting } => (
            *meeting,
            SignalKind::Media(MediaSignal::recording(Phase::Started, Some("f".into()))),
        ),
        SignalSpec::RecordingStopped { meeting } => (
            *meeting,
            SignalKind::Media(MediaSignal::recording(Phase::Stopped, None)),
        ),
    };
    Signal {
        id: format!("s{}", op.id),
        meeting_id: MEETINGS[meeting].into(),
        at: Timestamp(at),
        kind,
    }
}

pub fn endpoint(project: &str, spec: &EndpointSpec, now: Timestamp) -> Endpoint {
    let events = spec.events.map_or(vec!["*".to_owned()], |e| {
        e.iter().map(|s| s.to_string()).collect()
    });
    Endpoint {
        events: Subscription::parse(events).unwrap(),
        ordering: if spec.ordered {
            Ordering::Meeting
        } else {
            Ordering::None
        },
        ..Endpoint::new(
            spec.id.to_owned(),
            project.to_owned(),
            "http://127.0.0.1:9/".into(),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            now,
        )
    }
}
