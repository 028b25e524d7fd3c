//! The engine's per-meeting state. The store persists it as JSON, so it must stay serde-stable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::timestamp::Timestamp;

/// Everything the engine remembers about one meeting (room). A new room stores `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MeetingState {
    /// Sequence number of the last event emitted for this meeting.
    pub sequence: u64,
    /// `at` of the last applied signal per participant (`p:<id>`) and per media kind, for staleness.
    pub last_at: BTreeMap<String, Timestamp>,
    /// The ongoing session, if any.
    pub session: Option<SessionState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    pub id: String,
    pub start: Timestamp,
    /// Latest time seen in this session; the session cannot end before it.
    pub latest: Timestamp,
    /// Set once the session has ended.
    pub end: Option<Timestamp>,
    /// In order of first join.
    pub participants: Vec<ParticipantState>,
    /// fileId of the active recording.
    pub recording: Option<String>,
    pub livestream: bool,
    /// downstreamUrl of the active HLS stream.
    pub hls: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantState {
    pub id: String,
    pub name: String,
    pub timelog: Vec<Stay>,
    /// Set while a `disconnected` participant is inside the reconnect grace.
    pub grace: Option<Grace>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stay {
    pub start: Timestamp,
    pub end: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grace {
    /// When the participant really left, if they do not come back.
    pub disconnected_at: Timestamp,
    /// Grace counted from when we learned of the disconnect, so a backfilled `at` cannot
    /// expire it before the rejoin has had a chance to arrive.
    pub deadline: Timestamp,
}

impl MeetingState {
    /// The earliest pending reconnect-grace deadline, for the timer index.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.session.as_ref().and_then(|s| {
            s.participants
                .iter()
                .filter_map(|p| p.grace.map(|g| g.deadline))
                .min()
        })
    }
}

impl SessionState {
    pub fn participant_mut(&mut self, id: &str) -> Option<&mut ParticipantState> {
        self.participants.iter_mut().find(|p| p.id == id)
    }

    /// Participants with an open stay, including those inside a reconnect grace.
    pub fn present_count(&self) -> usize {
        self.participants.iter().filter(|p| p.is_present()).count()
    }
}

impl ParticipantState {
    pub fn is_present(&self) -> bool {
        self.timelog.last().is_some_and(|s| s.end.is_none())
    }
}
