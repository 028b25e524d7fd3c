//! The engine's state for one meeting: a small header the store keeps in one row, plus the
//! participant records a step needs, which the store keeps one row each.
//!
//! Splitting them keeps every write small: a join rewrites one participant, not the meeting.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::domain::media::Resource;
use crate::domain::timestamp::Timestamp;

/// Everything the engine remembers about one meeting (room), outside its participants.
/// A new room stores `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MeetingState {
    /// Sequence number of the last event emitted for this meeting.
    pub sequence: u64,
    /// `at` of the last applied signal per media resource (`MediaSignal::key`: `recording`,
    /// `livestream`, `hls`; per participant and per lifecycle, e.g. `recording:EG_1`, kept
    /// only for the ongoing session).
    pub last_at: BTreeMap<String, Timestamp>,
    /// Just after the last session's end (and its egresses' last report): per-participant and
    /// per-lifecycle media clocks are dropped with their session, and such a media signal
    /// dated before this is stale. (Named before lifecycles existed; stored rows keep it.)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participant_media_floor: Option<Timestamp>,
    /// The ongoing session, if any.
    pub session: Option<SessionState>,
    /// When the last session ended on request (`POST /v2/sessions/end`, LiveKit's
    /// `room_finished`): a join dated before it belonged to that session and is stale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    pub id: String,
    pub start: Timestamp,
    /// Latest time seen in this session; the session cannot end before it.
    pub latest: Timestamp,
    /// Set once the session has ended.
    pub end: Option<Timestamp>,
    /// Participants with an open stay, including those inside a reconnect grace.
    pub present: u32,
    /// How many participants have joined so far; orders them in the session's list.
    pub joined: u64,
    /// Pending reconnect graces, by participant.
    pub graces: BTreeMap<String, Grace>,
    /// Live media resources (not yet stopped or failed), in the order they opened.
    #[serde(default)]
    pub media: Vec<MediaState>,
    /// Set once everyone has left (or the room finished) while a lifecycle-tracked resource
    /// (an egress) is still live: the session ends when the last of them ends, or at the
    /// deadline, so its `-stopped` can carry what only its end reports (the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closing: Option<Closing>,
    /// Headers written before `media` existed: fileId of the active recording, a running
    /// livestream, the active HLS URL. Read once into `media` (`adopt_legacy_media`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub livestream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hls: Option<String>,
}

/// A session whose participants are gone, waiting for its tracked media to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closing {
    /// When the session ends (its `session-ended` `end`): the last leave, or the room's end.
    pub at: Timestamp,
    /// Then the tracked media still live are closed without waiting longer.
    pub deadline: Timestamp,
    pub cause: ClosingCause,
}

/// Why a session is closing; it decides what a join does meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClosingCause {
    /// The last participant left: a join comes back into the same session (the egress
    /// recording it never stopped).
    Emptied,
    /// The room was ended (`room_finished`): a join starts a new session after this one ends.
    Finished,
}

/// Where a live resource is in its lifecycle; stopped and failed resources are gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LivePhase {
    Starting,
    Started,
    /// HLS only: after started, the stream can be played.
    Playable,
    Stopping,
}

/// One live media resource of the ongoing session, with what its later events need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaState {
    #[serde(flatten)]
    pub resource: Resource,
    /// The lifecycle id (`MediaSignal::lifecycle`) when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<String>,
    pub phase: LivePhase,
    /// Recording: our file id (given or derived), where the file is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_url: Option<String>,
    /// Participant recording: its format, e.g. `webm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_format: Option<String>,
}

impl MediaState {
    /// The key its signals are ordered under (`MediaSignal::key`).
    pub fn key(&self) -> String {
        self.resource.lifecycle_key(self.lifecycle.as_deref())
    }
}

impl SessionState {
    /// Whether a lifecycle-tracked resource (an egress) is still live.
    pub fn has_tracked_media(&self) -> bool {
        self.media.iter().any(|m| m.lifecycle.is_some())
    }

    /// Moves a header's pre-`media` fields into `media`, as started resources.
    pub fn adopt_legacy_media(&mut self) {
        let mut adopt = |resource, file_id| {
            self.media.push(MediaState {
                resource,
                lifecycle: None,
                phase: LivePhase::Started,
                file_id,
                file_path: None,
                file_url: None,
                file_format: None,
            })
        };
        if let Some(file_id) = self.recording.take() {
            adopt(Resource::Recording, Some(file_id));
        }
        if std::mem::take(&mut self.livestream) {
            adopt(Resource::Livestream, None);
        }
        if self.hls.take().is_some() {
            adopt(Resource::Hls, None);
        }
    }
}

/// One participant of one meeting, as of its latest session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantState {
    pub id: String,
    /// The session `timelog` belongs to; empty before any session.
    pub session_id: String,
    /// Position in that session's participant list.
    pub order: u64,
    pub name: String,
    /// `at` of the last applied signal about this participant, across sessions.
    pub last_at: Option<Timestamp>,
    pub timelog: Vec<Stay>,
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

/// What one engine step works on: the header, and the participant records the store loaded
/// for it (see [`Meeting::needs`]). `changed` and `retired` are what to write back.
#[derive(Debug, Clone, Default)]
pub struct Meeting {
    pub state: MeetingState,
    pub participants: BTreeMap<String, ParticipantState>,
    pub changed: BTreeSet<String>,
    /// Final records of participants who moved on to a new session during this step;
    /// written before `changed`, so the old session keeps its closed timelog.
    pub retired: Vec<ParticipantState>,
}

impl MeetingState {
    /// The earliest pending reconnect-grace or closing deadline, for the timer index.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let session = self.session.as_ref()?;
        let graces = session.graces.values().map(|g| g.deadline);
        graces.chain(session.closing.map(|c| c.deadline)).min()
    }
}

impl Meeting {
    pub fn new(state: MeetingState) -> Self {
        Meeting {
            state,
            ..Meeting::default()
        }
    }

    /// Participant records a step over this meeting may read: the ones named, and every
    /// one inside a reconnect grace (which the step may expire).
    pub fn needs<'a>(&'a self, named: Option<&'a str>) -> impl Iterator<Item = &'a str> + 'a {
        let graced = self
            .state
            .session
            .iter()
            .flat_map(|s| s.graces.keys().map(String::as_str));
        named.into_iter().chain(graced)
    }
}

impl ParticipantState {
    /// Present in `session_id`: an open stay there.
    pub fn is_present_in(&self, session_id: &str) -> bool {
        self.session_id == session_id && self.timelog.last().is_some_and(|s| s.end.is_none())
    }
}
