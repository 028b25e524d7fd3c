//! The `data` objects of the catalog's events, field for field in wire order.
//!
//! serde writes fields in declaration order, so the order here is part of the wire contract.
//! Optional fields are left out when absent, never written as `null`.

use serde::{Deserialize, Serialize};

/// Data of events that only name a meeting and session (`recording-started`,
/// `livestream-*`, `hls-starting`, `hls-stopped`, the `-starting`, `-stopping` and `-failed`
/// of recording, livestream and HLS).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeetingRef {
    pub meeting_id: String,
    pub session_id: String,
}

/// Data of `participant-joined` and `participant-left`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantData {
    pub meeting_id: String,
    pub session_id: String,
    pub participant_id: String,
    pub participant_name: String,
}

/// Data of `session-started`. `start` is an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionStarted {
    pub session_id: String,
    pub meeting_id: String,
    pub start: String,
}

/// Data of `session-ended`. `start` and `end` are RFC 3339 timestamps.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionEnded {
    pub session_id: String,
    pub meeting_id: String,
    pub start: String,
    pub end: String,
}

/// Data of `recording-stopped`. `filePath` and `fileUrl` are present when the media layer
/// reported where the file is; `fileId` (a meetinghooks extension) always is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingStopped {
    pub meeting_id: String,
    pub session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_url: Option<String>,
    pub file_id: String,
}

/// Data of `hls-started`: `playbackHlsUrl`, and the same URL as `downstreamUrl`, the name
/// older receivers read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "HlsStartedWire")]
pub struct HlsStarted {
    pub meeting_id: String,
    pub session_id: String,
    pub downstream_url: String,
    pub playback_hls_url: String,
}

/// `hls-started` as read: payloads stored before `playbackHlsUrl` existed carry only
/// `downstreamUrl`, which is the same URL.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HlsStartedWire {
    meeting_id: String,
    session_id: String,
    downstream_url: String,
    playback_hls_url: Option<String>,
}

impl From<HlsStartedWire> for HlsStarted {
    fn from(w: HlsStartedWire) -> Self {
        HlsStarted {
            playback_hls_url: w
                .playback_hls_url
                .unwrap_or_else(|| w.downstream_url.clone()),
            meeting_id: w.meeting_id,
            session_id: w.session_id,
            downstream_url: w.downstream_url,
        }
    }
}

/// Data of `hls-playable`: `playbackHlsUrl` (live HLS with playback support) and, when the
/// media layer reported it, `livestreamUrl` (live HLS without playback support).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HlsPlayable {
    pub meeting_id: String,
    pub session_id: String,
    pub playback_hls_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub livestream_url: Option<String>,
}

/// Data of `participant-recording-starting`, `-started` and `-stopping`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantRecording {
    pub meeting_id: String,
    pub session_id: String,
    pub participant_id: String,
    pub file_format: String,
}

/// Data of `participant-recording-stopped`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantRecordingStopped {
    pub meeting_id: String,
    pub session_id: String,
    pub participant_id: String,
    pub file_details: Vec<FileDetail>,
}

/// Data of `participant-recording-failed`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantRef {
    pub meeting_id: String,
    pub session_id: String,
    pub participant_id: String,
}

/// Data of `participant-track-recording-starting`, `-started`, `-stopping` and `-failed`.
/// `kind` is the track's kind, e.g. `audio`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantTrack {
    pub meeting_id: String,
    pub session_id: String,
    pub participant_id: String,
    pub kind: String,
}

/// Data of `participant-track-recording-stopped`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantTrackStopped {
    pub meeting_id: String,
    pub session_id: String,
    pub participant_id: String,
    pub kind: String,
    pub file_details: Vec<FileDetail>,
}

/// One file a participant or track recording wrote.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileDetail {
    pub file_path: String,
    pub file_url: String,
}

/// The meeting and session every event's data names.
pub trait EventData {
    fn meeting_id(&self) -> &str;
    fn session_id(&self) -> &str;
}

macro_rules! event_data {
    ($($ty:ident),* $(,)?) => {
        $(impl EventData for $ty {
            fn meeting_id(&self) -> &str {
                &self.meeting_id
            }
            fn session_id(&self) -> &str {
                &self.session_id
            }
        })*
    };
}

event_data!(
    MeetingRef,
    ParticipantData,
    SessionStarted,
    SessionEnded,
    RecordingStopped,
    HlsStarted,
    HlsPlayable,
    ParticipantRecording,
    ParticipantRecordingStopped,
    ParticipantRef,
    ParticipantTrack,
    ParticipantTrackStopped,
);
