//! LiveKit's `WebhookEvent` as protojson, decoded leniently: camelCase or snake_case names,
//! int64 as a string or a number, enums by name or number, omitted defaults, unknown fields
//! ignored (those at the top level are counted).

use std::collections::BTreeMap;

use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::Value;

/// The parts of a `WebhookEvent` the mapping reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    pub event: String,
    #[serde(default)]
    pub id: String,
    /// Unix seconds; 0 when omitted.
    #[serde(default, alias = "created_at", deserialize_with = "int64")]
    pub created_at: i64,
    #[serde(default)]
    pub room: Option<Room>,
    #[serde(default)]
    pub participant: Option<Participant>,
    #[serde(default, alias = "egress_info")]
    pub egress_info: Option<EgressInfo>,
    /// Fields we do not know; counted, never an error.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// Top-level fields LiveKit sends that the mapping does not need.
const KNOWN_UNUSED: [&str; 6] = [
    "track",
    "ingressInfo",
    "ingress_info",
    "numDropped",
    "num_dropped",
    "agentJob",
];

impl WebhookEvent {
    /// Decodes a body; a body that is not a JSON object with an `event` name is an error.
    pub fn decode(body: &[u8]) -> Result<Self, String> {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
        if !value.is_object() {
            return Err("a LiveKit event is a JSON object".into());
        }
        WebhookEvent::deserialize(value).map_err(|e| format!("not a LiveKit event: {e}"))
    }

    /// How many top-level fields were neither used nor known to be unused.
    pub fn unknown_fields(&self) -> usize {
        self.unknown
            .keys()
            .filter(|k| !KNOWN_UNUSED.contains(&k.as_str()))
            .count()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Room {
    pub sid: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Participant {
    pub sid: String,
    pub identity: String,
    pub name: String,
    #[serde(alias = "joined_at", deserialize_with = "int64")]
    pub joined_at: i64,
    #[serde(alias = "joined_at_ms", deserialize_with = "int64")]
    pub joined_at_ms: i64,
    #[serde(alias = "disconnect_reason", deserialize_with = "disconnect_reason")]
    pub disconnect_reason: DisconnectReason,
}

impl Participant {
    /// When this connection joined, in milliseconds; 0 when LiveKit did not say.
    pub fn joined_ms(&self) -> i64 {
        if self.joined_at_ms > 0 {
            self.joined_at_ms
        } else {
            self.joined_at.saturating_mul(1000)
        }
    }
}

/// `DisconnectReason`, in proto order (the number is the index).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DisconnectReason {
    #[default]
    Unknown,
    ClientInitiated,
    DuplicateIdentity,
    ServerShutdown,
    ParticipantRemoved,
    RoomDeleted,
    StateMismatch,
    JoinFailure,
    Migration,
    SignalClose,
    RoomClosed,
    UserUnavailable,
    UserRejected,
    SipTrunkFailure,
    ConnectionTimeout,
    MediaFailure,
}

const DISCONNECT_REASONS: [(&str, DisconnectReason); 16] = [
    ("UNKNOWN_REASON", DisconnectReason::Unknown),
    ("CLIENT_INITIATED", DisconnectReason::ClientInitiated),
    ("DUPLICATE_IDENTITY", DisconnectReason::DuplicateIdentity),
    ("SERVER_SHUTDOWN", DisconnectReason::ServerShutdown),
    ("PARTICIPANT_REMOVED", DisconnectReason::ParticipantRemoved),
    ("ROOM_DELETED", DisconnectReason::RoomDeleted),
    ("STATE_MISMATCH", DisconnectReason::StateMismatch),
    ("JOIN_FAILURE", DisconnectReason::JoinFailure),
    ("MIGRATION", DisconnectReason::Migration),
    ("SIGNAL_CLOSE", DisconnectReason::SignalClose),
    ("ROOM_CLOSED", DisconnectReason::RoomClosed),
    ("USER_UNAVAILABLE", DisconnectReason::UserUnavailable),
    ("USER_REJECTED", DisconnectReason::UserRejected),
    ("SIP_TRUNK_FAILURE", DisconnectReason::SipTrunkFailure),
    ("CONNECTION_TIMEOUT", DisconnectReason::ConnectionTimeout),
    ("MEDIA_FAILURE", DisconnectReason::MediaFailure),
];

/// `EgressStatus`; a missing status is STARTING (0, omitted by protojson).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EgressStatus {
    #[default]
    Starting,
    Active,
    Ending,
    Complete,
    Failed,
    Aborted,
    LimitReached,
}

const EGRESS_STATUSES: [(&str, EgressStatus); 7] = [
    ("EGRESS_STARTING", EgressStatus::Starting),
    ("EGRESS_ACTIVE", EgressStatus::Active),
    ("EGRESS_ENDING", EgressStatus::Ending),
    ("EGRESS_COMPLETE", EgressStatus::Complete),
    ("EGRESS_FAILED", EgressStatus::Failed),
    ("EGRESS_ABORTED", EgressStatus::Aborted),
    ("EGRESS_LIMIT_REACHED", EgressStatus::LimitReached),
];

/// An enum by name or by number; an unknown one falls back to the default (the proto's 0).
fn enum_value<T: Copy + Default>(value: &Value, table: &[(&str, T)]) -> Option<T> {
    match value {
        Value::Null => Some(T::default()),
        Value::String(name) => Some(
            table
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| *v)
                .unwrap_or_default(),
        ),
        Value::Number(n) => Some(
            n.as_u64()
                .and_then(|i| table.get(usize::try_from(i).ok()?))
                .map(|(_, v)| *v)
                .unwrap_or_default(),
        ),
        _ => None,
    }
}

fn disconnect_reason<'de, D: Deserializer<'de>>(d: D) -> Result<DisconnectReason, D::Error> {
    let value = Value::deserialize(d)?;
    enum_value(&value, &DISCONNECT_REASONS)
        .ok_or_else(|| de::Error::custom("disconnectReason must be a name or a number"))
}

fn egress_status<'de, D: Deserializer<'de>>(d: D) -> Result<EgressStatus, D::Error> {
    let value = Value::deserialize(d)?;
    enum_value(&value, &EGRESS_STATUSES)
        .ok_or_else(|| de::Error::custom("status must be a name or a number"))
}

/// int64 as protojson writes it (a string) or as a number; null is 0.
fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(0),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| de::Error::custom("not an int64")),
        Value::String(s) => s.trim().parse().map_err(de::Error::custom),
        _ => Err(de::Error::custom("an int64 must be a string or a number")),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EgressInfo {
    #[serde(alias = "egress_id")]
    pub egress_id: String,
    #[serde(alias = "room_id")]
    pub room_id: String,
    #[serde(alias = "room_name")]
    pub room_name: String,
    #[serde(deserialize_with = "egress_status")]
    pub status: EgressStatus,
    /// Nanoseconds.
    #[serde(alias = "started_at", deserialize_with = "int64")]
    pub started_at: i64,
    #[serde(alias = "ended_at", deserialize_with = "int64")]
    pub ended_at: i64,
    #[serde(alias = "updated_at", deserialize_with = "int64")]
    pub updated_at: i64,
    pub error: String,
    /// The request oneof, by its key; kept as JSON and read by [`EgressInfo::outputs`].
    #[serde(alias = "room_composite")]
    pub room_composite: Option<Value>,
    pub web: Option<Value>,
    pub participant: Option<Value>,
    #[serde(alias = "track_composite")]
    pub track_composite: Option<Value>,
    pub track: Option<Value>,
    #[serde(alias = "file_results")]
    pub file_results: Vec<FileResult>,
    #[serde(alias = "stream_results")]
    pub stream_results: Vec<Value>,
    #[serde(alias = "segment_results")]
    pub segment_results: Vec<SegmentResult>,
    /// Deprecated result oneof.
    pub file: Option<FileResult>,
    pub stream: Option<Value>,
    pub segments: Option<SegmentResult>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FileResult {
    pub filename: String,
    pub location: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SegmentResult {
    #[serde(alias = "playlist_location")]
    pub playlist_location: String,
    #[serde(alias = "live_playlist_location")]
    pub live_playlist_location: String,
}

/// What an egress records the room into; one catalog lifecycle each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OutputKind {
    /// A file: `recording-*`.
    File,
    /// RTMP or SRT: `livestream-*`.
    Stream,
    /// HLS segments: `hls-*`.
    Segments,
}

/// Which egress request produced the event; only room-level ones map to the catalog today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EgressScope {
    /// `roomComposite` or `web`.
    Room,
    /// `participant`, `trackComposite` or `track`: the catalog's participant and track
    /// recordings, not mapped yet (a track egress names no participant or kind).
    Participant,
}

fn non_empty(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::Object(fields)) => !fields.is_empty(),
        Some(_) => true,
    }
}

fn has_any(request: &Value, keys: &[&str]) -> bool {
    keys.iter().any(|k| non_empty(request.get(k)))
}

impl EgressInfo {
    pub fn scope(&self) -> EgressScope {
        if self.participant.is_some() || self.track_composite.is_some() || self.track.is_some() {
            EgressScope::Participant
        } else {
            EgressScope::Room
        }
    }

    /// The output kinds of this egress, from its request and its results, sorted.
    pub fn outputs(&self) -> Vec<OutputKind> {
        let request = [
            &self.room_composite,
            &self.web,
            &self.participant,
            &self.track_composite,
            &self.track,
        ]
        .into_iter()
        .flatten()
        .next();
        let in_request = |keys: &[&str]| request.is_some_and(|r| has_any(r, keys));
        let mut kinds = Vec::new();
        if in_request(&["fileOutputs", "file_outputs", "file"])
            || !self.file_results.is_empty()
            || self.file.is_some()
        {
            kinds.push(OutputKind::File);
        }
        if in_request(&["streamOutputs", "stream_outputs", "stream"])
            || !self.stream_results.is_empty()
            || self.stream.is_some()
        {
            kinds.push(OutputKind::Stream);
        }
        if in_request(&["segmentOutputs", "segment_outputs", "segments"])
            || !self.segment_results.is_empty()
            || self.segments.is_some()
        {
            kinds.push(OutputKind::Segments);
        }
        kinds
    }

    /// The HLS playlist's storage URL, once LiveKit reports one.
    pub fn playlist_location(&self) -> Option<&str> {
        self.segment_results
            .iter()
            .chain(self.segments.as_ref())
            .flat_map(|s| [&s.playlist_location, &s.live_playlist_location])
            .find(|l| !l.is_empty())
            .map(String::as_str)
    }

    /// The latest time the egress reports, in milliseconds (its times are nanoseconds).
    pub fn latest_ms(&self) -> i64 {
        self.updated_at.max(self.ended_at).max(self.started_at) / 1_000_000
    }
}
