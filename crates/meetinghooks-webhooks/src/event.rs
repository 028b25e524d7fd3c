//! Webhook event types and their exact JSON wire form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A webhook as sent on the wire: `{"webhookType":"<name>","data":{...}}`.
///
/// Field order inside `data` is part of the wire contract (serde serializes in
/// declaration order). Unknown fields are ignored when deserializing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "webhookType", content = "data")]
pub enum Event {
    #[serde(rename = "participant-joined")]
    ParticipantJoined(ParticipantData),
    #[serde(rename = "participant-left")]
    ParticipantLeft(ParticipantData),
    #[serde(rename = "session-started")]
    SessionStarted(SessionStarted),
    #[serde(rename = "session-ended")]
    SessionEnded(SessionEnded),
    #[serde(rename = "recording-started")]
    RecordingStarted(MeetingRef),
    #[serde(rename = "recording-stopped")]
    RecordingStopped(RecordingStopped),
    #[serde(rename = "livestream-started")]
    LivestreamStarted(MeetingRef),
    #[serde(rename = "livestream-stopped")]
    LivestreamStopped(MeetingRef),
    #[serde(rename = "hls-started")]
    HlsStarted(HlsStarted),
    #[serde(rename = "hls-stopped")]
    HlsStopped(MeetingRef),
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

/// Data of events that only name a meeting and session
/// (`recording-started`, `livestream-started`, `livestream-stopped`, `hls-stopped`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeetingRef {
    pub meeting_id: String,
    pub session_id: String,
}

/// Data of `recording-stopped`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingStopped {
    pub meeting_id: String,
    pub session_id: String,
    pub file_id: String,
}

/// Data of `hls-started`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HlsStarted {
    pub meeting_id: String,
    pub session_id: String,
    pub downstream_url: String,
}

impl Event {
    /// The kind of this event.
    pub fn webhook_type(&self) -> WebhookType {
        match self {
            Event::ParticipantJoined(_) => WebhookType::ParticipantJoined,
            Event::ParticipantLeft(_) => WebhookType::ParticipantLeft,
            Event::SessionStarted(_) => WebhookType::SessionStarted,
            Event::SessionEnded(_) => WebhookType::SessionEnded,
            Event::RecordingStarted(_) => WebhookType::RecordingStarted,
            Event::RecordingStopped(_) => WebhookType::RecordingStopped,
            Event::LivestreamStarted(_) => WebhookType::LivestreamStarted,
            Event::LivestreamStopped(_) => WebhookType::LivestreamStopped,
            Event::HlsStarted(_) => WebhookType::HlsStarted,
            Event::HlsStopped(_) => WebhookType::HlsStopped,
        }
    }

    /// The meeting this event belongs to.
    pub fn meeting_id(&self) -> &str {
        match self {
            Event::ParticipantJoined(d) | Event::ParticipantLeft(d) => &d.meeting_id,
            Event::SessionStarted(d) => &d.meeting_id,
            Event::SessionEnded(d) => &d.meeting_id,
            Event::RecordingStarted(d)
            | Event::LivestreamStarted(d)
            | Event::LivestreamStopped(d)
            | Event::HlsStopped(d) => &d.meeting_id,
            Event::RecordingStopped(d) => &d.meeting_id,
            Event::HlsStarted(d) => &d.meeting_id,
        }
    }

    /// The session this event belongs to.
    pub fn session_id(&self) -> &str {
        match self {
            Event::ParticipantJoined(d) | Event::ParticipantLeft(d) => &d.session_id,
            Event::SessionStarted(d) => &d.session_id,
            Event::SessionEnded(d) => &d.session_id,
            Event::RecordingStarted(d)
            | Event::LivestreamStarted(d)
            | Event::LivestreamStopped(d)
            | Event::HlsStopped(d) => &d.session_id,
            Event::RecordingStopped(d) => &d.session_id,
            Event::HlsStarted(d) => &d.session_id,
        }
    }

    /// The compact JSON wire form of this event.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("Event always serializes")
    }
}

/// The `webhookType` of an [`Event`], serialized as its kebab-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WebhookType {
    ParticipantJoined,
    ParticipantLeft,
    SessionStarted,
    SessionEnded,
    RecordingStarted,
    RecordingStopped,
    LivestreamStarted,
    LivestreamStopped,
    HlsStarted,
    HlsStopped,
}

impl WebhookType {
    /// Every webhook type, in declaration order.
    pub const ALL: [WebhookType; 10] = [
        WebhookType::ParticipantJoined,
        WebhookType::ParticipantLeft,
        WebhookType::SessionStarted,
        WebhookType::SessionEnded,
        WebhookType::RecordingStarted,
        WebhookType::RecordingStopped,
        WebhookType::LivestreamStarted,
        WebhookType::LivestreamStopped,
        WebhookType::HlsStarted,
        WebhookType::HlsStopped,
    ];

    /// The wire name, e.g. `"participant-joined"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            WebhookType::ParticipantJoined => "participant-joined",
            WebhookType::ParticipantLeft => "participant-left",
            WebhookType::SessionStarted => "session-started",
            WebhookType::SessionEnded => "session-ended",
            WebhookType::RecordingStarted => "recording-started",
            WebhookType::RecordingStopped => "recording-stopped",
            WebhookType::LivestreamStarted => "livestream-started",
            WebhookType::LivestreamStopped => "livestream-stopped",
            WebhookType::HlsStarted => "hls-started",
            WebhookType::HlsStopped => "hls-stopped",
        }
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
            .into_iter()
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

#[cfg(test)]
mod tests {
    use super::*;

    const M: &str = "mtg_1";
    const S: &str = "ses_1";

    fn mref() -> MeetingRef {
        MeetingRef {
            meeting_id: M.into(),
            session_id: S.into(),
        }
    }

    fn participant() -> ParticipantData {
        ParticipantData {
            meeting_id: M.into(),
            session_id: S.into(),
            participant_id: "p_1".into(),
            participant_name: "Ada".into(),
        }
    }

    /// Every event paired with its exact expected wire bytes.
    fn cases() -> Vec<(Event, &'static str)> {
        vec![
            (
                Event::ParticipantJoined(participant()),
                r#"{"webhookType":"participant-joined","data":{"meetingId":"mtg_1","sessionId":"ses_1","participantId":"p_1","participantName":"Ada"}}"#,
            ),
            (
                Event::ParticipantLeft(participant()),
                r#"{"webhookType":"participant-left","data":{"meetingId":"mtg_1","sessionId":"ses_1","participantId":"p_1","participantName":"Ada"}}"#,
            ),
            (
                Event::SessionStarted(SessionStarted {
                    session_id: S.into(),
                    meeting_id: M.into(),
                    start: "2022-07-05T15:55:35.047+00:00".into(),
                }),
                r#"{"webhookType":"session-started","data":{"sessionId":"ses_1","meetingId":"mtg_1","start":"2022-07-05T15:55:35.047+00:00"}}"#,
            ),
            (
                Event::SessionEnded(SessionEnded {
                    session_id: S.into(),
                    meeting_id: M.into(),
                    start: "2022-07-05T15:55:35.047+00:00".into(),
                    end: "2022-07-05T16:10:00.000+00:00".into(),
                }),
                r#"{"webhookType":"session-ended","data":{"sessionId":"ses_1","meetingId":"mtg_1","start":"2022-07-05T15:55:35.047+00:00","end":"2022-07-05T16:10:00.000+00:00"}}"#,
            ),
            (
                Event::RecordingStarted(mref()),
                r#"{"webhookType":"recording-started","data":{"meetingId":"mtg_1","sessionId":"ses_1"}}"#,
            ),
            (
                Event::RecordingStopped(RecordingStopped {
                    meeting_id: M.into(),
                    session_id: S.into(),
                    file_id: "file_9".into(),
                }),
                r#"{"webhookType":"recording-stopped","data":{"meetingId":"mtg_1","sessionId":"ses_1","fileId":"file_9"}}"#,
            ),
            (
                Event::LivestreamStarted(mref()),
                r#"{"webhookType":"livestream-started","data":{"meetingId":"mtg_1","sessionId":"ses_1"}}"#,
            ),
            (
                Event::LivestreamStopped(mref()),
                r#"{"webhookType":"livestream-stopped","data":{"meetingId":"mtg_1","sessionId":"ses_1"}}"#,
            ),
            (
                Event::HlsStarted(HlsStarted {
                    meeting_id: M.into(),
                    session_id: S.into(),
                    downstream_url: "https://cdn.example/live.m3u8".into(),
                }),
                r#"{"webhookType":"hls-started","data":{"meetingId":"mtg_1","sessionId":"ses_1","downstreamUrl":"https://cdn.example/live.m3u8"}}"#,
            ),
            (
                Event::HlsStopped(mref()),
                r#"{"webhookType":"hls-stopped","data":{"meetingId":"mtg_1","sessionId":"ses_1"}}"#,
            ),
        ]
    }

    #[test]
    fn cases_cover_all_types_in_order() {
        let types: Vec<_> = cases().iter().map(|(e, _)| e.webhook_type()).collect();
        assert_eq!(types, WebhookType::ALL);
    }

    #[test]
    fn serializes_byte_for_byte() {
        for (event, expected) in cases() {
            assert_eq!(
                String::from_utf8(event.to_json_bytes()).unwrap(),
                expected,
                "{}",
                event.webhook_type()
            );
        }
    }

    #[test]
    fn round_trips() {
        for (event, expected) in cases() {
            let parsed: Event = serde_json::from_str(expected).unwrap();
            assert_eq!(parsed, event);
            assert_eq!(parsed.to_json_bytes(), expected.as_bytes());
        }
    }

    #[test]
    fn deserializes_pretty_printed() {
        for (event, _) in cases() {
            let pretty = serde_json::to_string_pretty(&event).unwrap();
            assert!(pretty.contains('\n'));
            assert_eq!(serde_json::from_str::<Event>(&pretty).unwrap(), event);
        }
        let literal = r#"{
            "webhookType": "hls-started",
            "data": {
                "meetingId": "mtg_1",
                "sessionId": "ses_1",
                "downstreamUrl": "https://cdn.example/live.m3u8"
            }
        }"#;
        assert_eq!(
            serde_json::from_str::<Event>(literal).unwrap(),
            cases()[8].0
        );
    }

    #[test]
    fn data_before_tag_and_unknown_fields_are_accepted() {
        let json = r#"{"data":{"sessionId":"ses_1","meetingId":"mtg_1","extra":1},"webhookType":"recording-started","version":2}"#;
        assert_eq!(
            serde_json::from_str::<Event>(json).unwrap(),
            Event::RecordingStarted(mref())
        );
    }

    #[test]
    fn unknown_webhook_type_fails() {
        let json = r#"{"webhookType":"meeting-exploded","data":{"meetingId":"m","sessionId":"s"}}"#;
        assert!(serde_json::from_str::<Event>(json).is_err());
        assert!(serde_json::from_str::<WebhookType>(r#""meeting-exploded""#).is_err());
    }

    #[test]
    fn missing_field_fails() {
        let json =
            r#"{"webhookType":"recording-stopped","data":{"meetingId":"m","sessionId":"s"}}"#;
        assert!(serde_json::from_str::<Event>(json).is_err());
    }

    #[test]
    fn accessors() {
        for (event, _) in cases() {
            assert_eq!(event.meeting_id(), M);
            assert_eq!(event.session_id(), S);
        }
    }

    #[test]
    fn webhook_type_names() {
        for t in WebhookType::ALL {
            assert_eq!(t.to_string(), t.as_str());
            assert_eq!(t.as_str().parse::<WebhookType>(), Ok(t));
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(serde_json::from_str::<WebhookType>(&json).unwrap(), t);
        }
        let err = "nope".parse::<WebhookType>().unwrap_err();
        assert_eq!(err, UnknownWebhookType("nope".into()));
        assert_eq!(err.to_string(), "unknown webhook type \"nope\"");
    }

    #[test]
    fn event_type_matches_tag() {
        for (event, expected) in cases() {
            let tag = format!(r#"{{"webhookType":"{}","#, event.webhook_type());
            assert!(expected.starts_with(&tag));
        }
    }
}
