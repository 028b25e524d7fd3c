//! Webhook event types and their exact JSON wire form: the whole catalog in one list.

mod data;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use data::{
    EventData, FileDetail, HlsPlayable, HlsStarted, MeetingRef, ParticipantData,
    ParticipantRecording, ParticipantRecordingStopped, ParticipantRef, ParticipantTrack,
    ParticipantTrackStopped, RecordingStopped, SessionEnded, SessionStarted,
};

/// Defines [`Event`] and [`WebhookType`] from one list, so the two cannot drift apart.
macro_rules! catalog {
    ($($(#[$doc:meta])* $variant:ident = $name:literal ($data:ident),)*) => {
        /// A webhook as sent on the wire: `{"webhookType":"<name>","data":{...}}`.
        ///
        /// Field order inside `data` is part of the wire contract (serde serializes in
        /// declaration order). Unknown fields are ignored when deserializing; an unknown
        /// `webhookType` is an error.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(tag = "webhookType", content = "data")]
        pub enum Event {
            $($(#[$doc])* #[serde(rename = $name)] $variant($data),)*
        }

        /// The `webhookType` of an [`Event`], serialized as its kebab-case name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum WebhookType {
            $($(#[$doc])* #[serde(rename = $name)] $variant,)*
        }

        impl Event {
            /// The kind of this event.
            pub fn webhook_type(&self) -> WebhookType {
                match self {
                    $(Event::$variant(_) => WebhookType::$variant,)*
                }
            }

            fn data(&self) -> &dyn EventData {
                match self {
                    $(Event::$variant(d) => d,)*
                }
            }
        }

        impl WebhookType {
            /// Every webhook type, in declaration order.
            pub const ALL: &'static [WebhookType] = &[$(WebhookType::$variant,)*];

            /// The wire name, e.g. `"participant-joined"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(WebhookType::$variant => $name,)*
                }
            }
        }
    };
}

catalog! {
    ParticipantJoined = "participant-joined" (ParticipantData),
    ParticipantLeft = "participant-left" (ParticipantData),
    SessionStarted = "session-started" (SessionStarted),
    SessionEnded = "session-ended" (SessionEnded),
    RecordingStarted = "recording-started" (MeetingRef),
    RecordingStopped = "recording-stopped" (RecordingStopped),
    LivestreamStarted = "livestream-started" (MeetingRef),
    LivestreamStopped = "livestream-stopped" (MeetingRef),
    HlsStarted = "hls-started" (HlsStarted),
    HlsStopped = "hls-stopped" (MeetingRef),
    RecordingStarting = "recording-starting" (MeetingRef),
    RecordingStopping = "recording-stopping" (MeetingRef),
    RecordingFailed = "recording-failed" (MeetingRef),
    LivestreamStarting = "livestream-starting" (MeetingRef),
    LivestreamStopping = "livestream-stopping" (MeetingRef),
    LivestreamFailed = "livestream-failed" (MeetingRef),
    HlsStarting = "hls-starting" (MeetingRef),
    /// The stream can be played: after `hls-started`, before `hls-stopping`.
    HlsPlayable = "hls-playable" (HlsPlayable),
    HlsStopping = "hls-stopping" (MeetingRef),
    HlsFailed = "hls-failed" (MeetingRef),
    ParticipantRecordingStarting = "participant-recording-starting" (ParticipantRecording),
    ParticipantRecordingStarted = "participant-recording-started" (ParticipantRecording),
    ParticipantRecordingStopping = "participant-recording-stopping" (ParticipantRecording),
    ParticipantRecordingStopped = "participant-recording-stopped" (ParticipantRecordingStopped),
    ParticipantRecordingFailed = "participant-recording-failed" (ParticipantRef),
    ParticipantTrackRecordingStarting = "participant-track-recording-starting" (ParticipantTrack),
    ParticipantTrackRecordingStarted = "participant-track-recording-started" (ParticipantTrack),
    ParticipantTrackRecordingStopping = "participant-track-recording-stopping" (ParticipantTrack),
    ParticipantTrackRecordingStopped = "participant-track-recording-stopped" (ParticipantTrackStopped),
    ParticipantTrackRecordingFailed = "participant-track-recording-failed" (ParticipantTrack),
}

impl Event {
    /// The meeting this event belongs to.
    pub fn meeting_id(&self) -> &str {
        self.data().meeting_id()
    }

    /// The session this event belongs to.
    pub fn session_id(&self) -> &str {
        self.data().session_id()
    }

    /// The compact JSON wire form of this event.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("Event always serializes")
    }
}

impl fmt::Display for WebhookType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WebhookType {
    type Err = UnknownWebhookType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WebhookType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownWebhookType(s.to_owned()))
    }
}

/// Error from parsing a [`WebhookType`] name that is not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownWebhookType(pub String);

impl fmt::Display for UnknownWebhookType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown webhook type {:?}", self.0)
    }
}

impl std::error::Error for UnknownWebhookType {}
