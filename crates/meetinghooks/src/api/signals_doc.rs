//! The OpenAPI description of one signal: a `oneOf` by `type`, exactly as
//! `domain::signal::parse_batch` accepts them (doc-only types; the parser reads JSON values).

use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// One meeting signal; its `type` decides the other fields.
#[derive(ToSchema)]
#[serde(tag = "type")]
#[allow(dead_code)]
pub enum Signal {
    #[serde(rename = "participant.joined")]
    ParticipantJoined(ParticipantJoined),
    #[serde(rename = "participant.left")]
    ParticipantLeft(ParticipantLeft),
    #[serde(rename = "recording.starting")]
    RecordingStarting(Recording),
    #[serde(rename = "recording.started")]
    RecordingStarted(Recording),
    #[serde(rename = "recording.stopping")]
    RecordingStopping(MeetingOnly),
    #[serde(rename = "recording.stopped")]
    RecordingStopped(Recording),
    #[serde(rename = "recording.failed")]
    RecordingFailed(MeetingOnly),
    #[serde(rename = "livestream.starting")]
    LivestreamStarting(MeetingOnly),
    #[serde(rename = "livestream.started")]
    LivestreamStarted(MeetingOnly),
    #[serde(rename = "livestream.stopping")]
    LivestreamStopping(MeetingOnly),
    #[serde(rename = "livestream.stopped")]
    LivestreamStopped(MeetingOnly),
    #[serde(rename = "livestream.failed")]
    LivestreamFailed(MeetingOnly),
    #[serde(rename = "hls.starting")]
    HlsStarting(MeetingOnly),
    #[serde(rename = "hls.started")]
    HlsStarted(HlsStarted),
    #[serde(rename = "hls.playable")]
    HlsPlayable(HlsPlayable),
    #[serde(rename = "hls.stopping")]
    HlsStopping(MeetingOnly),
    #[serde(rename = "hls.stopped")]
    HlsStopped(MeetingOnly),
    #[serde(rename = "hls.failed")]
    HlsFailed(MeetingOnly),
    #[serde(rename = "participant-recording.starting")]
    ParticipantRecordingStarting(ParticipantRecordingOpen),
    #[serde(rename = "participant-recording.started")]
    ParticipantRecordingStarted(ParticipantRecordingOpen),
    #[serde(rename = "participant-recording.stopping")]
    ParticipantRecordingStopping(ParticipantRecording),
    #[serde(rename = "participant-recording.stopped")]
    ParticipantRecordingStopped(ParticipantRecordingStopped),
    #[serde(rename = "participant-recording.failed")]
    ParticipantRecordingFailed(ParticipantRecording),
    #[serde(rename = "participant-track-recording.starting")]
    ParticipantTrackRecordingStarting(TrackRecording),
    #[serde(rename = "participant-track-recording.started")]
    ParticipantTrackRecordingStarted(TrackRecording),
    #[serde(rename = "participant-track-recording.stopping")]
    ParticipantTrackRecordingStopping(TrackRecording),
    #[serde(rename = "participant-track-recording.stopped")]
    ParticipantTrackRecordingStopped(TrackRecordingStopped),
    #[serde(rename = "participant-track-recording.failed")]
    ParticipantTrackRecordingFailed(TrackRecording),
}

/// A signal's id: unique per meeting; a repeat in the same meeting is a no-op, counted in
/// `duplicates`. No NUL.
#[derive(ToSchema)]
#[schema(min_length = 1, max_length = 128, pattern = "^[^\\u0000]+$")]
#[allow(dead_code)]
pub struct SignalId(String);

/// 1-128 characters from `[A-Za-z0-9._-]`.
#[derive(ToSchema)]
#[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._-]+$")]
#[allow(dead_code)]
pub struct MeetingId(String);

/// 1-128 characters, no NUL.
#[derive(ToSchema)]
#[schema(min_length = 1, max_length = 128, pattern = "^[^\\u0000]+$")]
#[allow(dead_code)]
pub struct ShortText(String);

/// An absolute http(s) URL.
#[derive(ToSchema)]
#[schema(
    max_length = 2048,
    pattern = "^https?://((?![Xx][Nn]--)[A-Za-z0-9-]+\\.)*(?![Xx][Nn]--)[A-Za-z][A-Za-z0-9-]*(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~-]*)*$"
)]
#[allow(dead_code)]
pub struct HttpUrl(String);

/// Where a file is stored, e.g. `/encoded/videos/62d148951a1eb20029fc9b05.mp4`: 1-2048
/// characters, no NUL.
#[derive(ToSchema)]
#[schema(min_length = 1, max_length = 2048, pattern = "^[^\\u0000]+$")]
#[allow(dead_code)]
pub struct FilePath(String);

/// A recording's file format, e.g. `webm`: 1-16 letters or digits.
#[derive(ToSchema)]
#[schema(pattern = "^[A-Za-z0-9]{1,16}$")]
#[allow(dead_code)]
pub struct FileFormat(String);

/// A track's kind, e.g. `audio`: 1-32 letters.
#[derive(ToSchema)]
#[schema(pattern = "^[A-Za-z]{1,32}$")]
#[allow(dead_code)]
pub struct TrackKind(String);

/// One file a participant or track recording wrote.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct FileDetail {
    file_path: FilePath,
    file_url: HttpUrl,
}

macro_rules! signal_doc {
    ($(#[$doc:meta])* $name:ident { $($(#[$field_doc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(ToSchema)]
        #[serde(rename_all = "camelCase")]
        #[allow(dead_code)]
        pub struct $name {
            id: SignalId,
            meeting_id: MeetingId,
            /// RFC 3339; defaults to the time received. At most `signal_max_age` (24 h) old and
            /// `signal_max_ahead` (5 minutes) ahead of the server's clock. The pattern is the
            /// documented subset; the server also takes days 29-31 where they exist.
            #[schema(format = DateTime, pattern = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")]
            at: Option<String>,
            $($(#[$field_doc])* $field: $ty,)*
        }
    };
}

signal_doc!(
    /// `participant.joined`.
    ParticipantJoined {
        participant_id: ShortText,
        /// 1-256 characters, no NUL.
        #[schema(min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
        participant_name: String,
    }
);
signal_doc!(
    /// `participant.left`.
    ParticipantLeft {
        participant_id: ShortText,
        reason: LeaveReason,
    }
);
signal_doc!(
    /// `recording.starting`, `recording.started` and `recording.stopped`. `recording-stopped`
    /// carries the latest `fileId`, `filePath` and `fileUrl` given.
    Recording {
        /// Optional: tells apart concurrent lifecycles of the meeting's recording, livestream or
        /// HLS (e.g. a media server's egress id); each gets its own `-started` and `-stopped`,
        /// and the session ends after the last of them (within 10 minutes of the last leave).
        /// Without it the resource has one lifecycle, closed when the session ends.
        lifecycle_id: Option<ShortText>,
        /// Generated when never given.
        file_id: Option<ShortText>,
        file_path: Option<FilePath>,
        file_url: Option<HttpUrl>,
    }
);
signal_doc!(
    /// A signal with no fields of its own: `*.stopping`, `*.failed`, `livestream.*`,
    /// `hls.starting`, `hls.stopped`; `lifecycleId` only on `recording.*`, `livestream.*`
    /// and `hls.*`.
    MeetingOnly {
        /// Optional: tells apart concurrent lifecycles of the meeting's recording, livestream or
        /// HLS (e.g. a media server's egress id); each gets its own `-started` and `-stopped`,
        /// and the session ends after the last of them (within 10 minutes of the last leave).
        /// Without it the resource has one lifecycle, closed when the session ends.
        lifecycle_id: Option<ShortText>,
    }
);
signal_doc!(
    /// `hls.started`: `playbackHlsUrl`, `downstreamUrl` (its older name), or both; either
    /// one alone stands for both.
    HlsStartedFields {
        /// Optional: tells apart concurrent lifecycles of the meeting's recording, livestream or
        /// HLS (e.g. a media server's egress id); each gets its own `-started` and `-stopped`,
        /// and the session ends after the last of them (within 10 minutes of the last leave).
        /// Without it the resource has one lifecycle, closed when the session ends.
        lifecycle_id: Option<ShortText>,
        downstream_url: Option<HttpUrl>,
        playback_hls_url: Option<HttpUrl>,
    }
);
signal_doc!(
    /// `hls.playable`.
    HlsPlayable {
        /// Optional: tells apart concurrent lifecycles of the meeting's recording, livestream or
        /// HLS (e.g. a media server's egress id); each gets its own `-started` and `-stopped`,
        /// and the session ends after the last of them (within 10 minutes of the last leave).
        /// Without it the resource has one lifecycle, closed when the session ends.
        lifecycle_id: Option<ShortText>,
        /// Live HLS with playback support.
        playback_hls_url: HttpUrl,
        /// Live HLS without playback support.
        livestream_url: Option<HttpUrl>,
    }
);
signal_doc!(
    /// `participant-recording.starting` and `participant-recording.started`.
    ParticipantRecordingOpen {
        participant_id: ShortText,
        file_format: FileFormat,
    }
);
signal_doc!(
    /// `participant-recording.stopping` and `participant-recording.failed`.
    ParticipantRecording {
        participant_id: ShortText,
    }
);
signal_doc!(
    /// `participant-recording.stopped`.
    ParticipantRecordingStopped {
        participant_id: ShortText,
        /// The files written; none when absent.
        #[schema(max_items = 32)]
        file_details: Option<Vec<FileDetail>>,
    }
);
signal_doc!(
    /// `participant-track-recording.starting`, `.started`, `.stopping` and `.failed`.
    TrackRecording {
        participant_id: ShortText,
        kind: TrackKind,
    }
);
signal_doc!(
    /// `participant-track-recording.stopped`.
    TrackRecordingStopped {
        participant_id: ShortText,
        kind: TrackKind,
        /// The files written; none when absent.
        #[schema(max_items = 32)]
        file_details: Option<Vec<FileDetail>>,
    }
);

/// `hls.started`: its fields, and at least one of the two URLs.
pub struct HlsStarted;

impl PartialSchema for HlsStarted {
    fn schema() -> RefOr<Schema> {
        // Present and not null: a `null` URL is an absent one.
        let requires = |field: &str| {
            ObjectBuilder::new()
                .property(field, Ref::from_schema_name("HttpUrl"))
                .required(field)
                .build()
        };
        AllOfBuilder::new()
            .item(HlsStartedFields::schema())
            .item(
                AnyOfBuilder::new()
                    .item(requires("playbackHlsUrl"))
                    .item(requires("downstreamUrl")),
            )
            .into()
    }
}

impl ToSchema for HlsStarted {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <HlsStartedFields as ToSchema>::schemas(schemas);
    }
}

// Doc-only.
/// Why a participant left.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum LeaveReason {
    Left,
    Disconnected,
    Removed,
}
