//! The catalog's exact wire bytes, one case per event type.

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

fn precording() -> ParticipantRecording {
    ParticipantRecording {
        meeting_id: M.into(),
        session_id: S.into(),
        participant_id: "p_1".into(),
        file_format: "webm".into(),
    }
}

fn track() -> ParticipantTrack {
    ParticipantTrack {
        meeting_id: M.into(),
        session_id: S.into(),
        participant_id: "p_1".into(),
        kind: "audio".into(),
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
                file_path: Some("/encoded/videos/62d148951a1eb20029fc9b05.mp4".into()),
                file_url: Some(
                    "https://cdn.example/encoded/videos/62d148951a1eb20029fc9b05.mp4".into(),
                ),
                file_id: "62d148951a1eb20029fc9b05".into(),
            }),
            r#"{"webhookType":"recording-stopped","data":{"meetingId":"mtg_1","sessionId":"ses_1","filePath":"/encoded/videos/62d148951a1eb20029fc9b05.mp4","fileUrl":"https://cdn.example/encoded/videos/62d148951a1eb20029fc9b05.mp4","fileId":"62d148951a1eb20029fc9b05"}}"#,
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
                playback_hls_url: "https://cdn.example/live.m3u8".into(),
            }),
            r#"{"webhookType":"hls-started","data":{"meetingId":"mtg_1","sessionId":"ses_1","downstreamUrl":"https://cdn.example/live.m3u8","playbackHlsUrl":"https://cdn.example/live.m3u8"}}"#,
        ),
        (
            Event::HlsStopped(mref()),
            r#"{"webhookType":"hls-stopped","data":{"meetingId":"mtg_1","sessionId":"ses_1"}}"#,
        ),
        (
            Event::RecordingStarting(mref()),
            r#"{"webhookType":"recording-starting","data":{"meetingId":"mtg_1","sessionId":"ses_1"}}"#,
        ),
        (
            Event::RecordingStopping(mref()),
            r#"{"webhookType":"recording-stopping","data":{"meetingId":"mtg_1","sessionId":"ses_1"}}"#,
        ),
        (
            Event::RecordingFailed(mref()),
            r#"{"webhookType":"recording-failed","data":{"meetingId":"mtg_1","sessionId":"ses_1"}}"#,
        ),
        (
            Event::LivestreamStarting(mref()),
            r#"{"webhookType":"livestream-starting","data":{"meetingId":"mtg_1","sessionId":"ses_1"}}"#,
        ),
        (
            Event::LivestreamStopping(mref()),
            r#"{"webhookType":"livestream-stopping","data":{"meetingId":"mtg_1","sessionId":"ses_1"}}"#,
        ),
        (
            Event::LivestreamFailed(mref()),
            r#"{"webhookType":"livestream-failed","data":{"meetingId":"mtg_1","sessionId":"ses_1"}}"#,
        ),
        (
            Event::HlsStarting(mref()),
            r#"{"webhookType":"hls-starting","data":{"meetingId":"mtg_1","sessionId":"ses_1"}}"#,
        ),
        (
            Event::HlsPlayable(HlsPlayable {
                meeting_id: M.into(),
                session_id: S.into(),
                playback_hls_url: "https://cdn.example/p.m3u8".into(),
                livestream_url: Some("https://cdn.example/l.m3u8".into()),
            }),
            r#"{"webhookType":"hls-playable","data":{"meetingId":"mtg_1","sessionId":"ses_1","playbackHlsUrl":"https://cdn.example/p.m3u8","livestreamUrl":"https://cdn.example/l.m3u8"}}"#,
        ),
        (
            Event::HlsStopping(mref()),
            r#"{"webhookType":"hls-stopping","data":{"meetingId":"mtg_1","sessionId":"ses_1"}}"#,
        ),
        (
            Event::HlsFailed(mref()),
            r#"{"webhookType":"hls-failed","data":{"meetingId":"mtg_1","sessionId":"ses_1"}}"#,
        ),
        (
            Event::ParticipantRecordingStarting(precording()),
            r#"{"webhookType":"participant-recording-starting","data":{"meetingId":"mtg_1","sessionId":"ses_1","participantId":"p_1","fileFormat":"webm"}}"#,
        ),
        (
            Event::ParticipantRecordingStarted(precording()),
            r#"{"webhookType":"participant-recording-started","data":{"meetingId":"mtg_1","sessionId":"ses_1","participantId":"p_1","fileFormat":"webm"}}"#,
        ),
        (
            Event::ParticipantRecordingStopping(precording()),
            r#"{"webhookType":"participant-recording-stopping","data":{"meetingId":"mtg_1","sessionId":"ses_1","participantId":"p_1","fileFormat":"webm"}}"#,
        ),
        (
            Event::ParticipantRecordingStopped(ParticipantRecordingStopped {
                meeting_id: M.into(),
                session_id: S.into(),
                participant_id: "p_1".into(),
                file_details: vec![FileDetail {
                    file_path: "/p/1.webm".into(),
                    file_url: "https://cdn.example/p/1.webm".into(),
                }],
            }),
            r#"{"webhookType":"participant-recording-stopped","data":{"meetingId":"mtg_1","sessionId":"ses_1","participantId":"p_1","fileDetails":[{"filePath":"/p/1.webm","fileUrl":"https://cdn.example/p/1.webm"}]}}"#,
        ),
        (
            Event::ParticipantRecordingFailed(ParticipantRef {
                meeting_id: M.into(),
                session_id: S.into(),
                participant_id: "p_1".into(),
            }),
            r#"{"webhookType":"participant-recording-failed","data":{"meetingId":"mtg_1","sessionId":"ses_1","participantId":"p_1"}}"#,
        ),
        (
            Event::ParticipantTrackRecordingStarting(track()),
            r#"{"webhookType":"participant-track-recording-starting","data":{"meetingId":"mtg_1","sessionId":"ses_1","participantId":"p_1","kind":"audio"}}"#,
        ),
        (
            Event::ParticipantTrackRecordingStarted(track()),
            r#"{"webhookType":"participant-track-recording-started","data":{"meetingId":"mtg_1","sessionId":"ses_1","participantId":"p_1","kind":"audio"}}"#,
        ),
        (
            Event::ParticipantTrackRecordingStopping(track()),
            r#"{"webhookType":"participant-track-recording-stopping","data":{"meetingId":"mtg_1","sessionId":"ses_1","participantId":"p_1","kind":"audio"}}"#,
        ),
        (
            Event::ParticipantTrackRecordingStopped(ParticipantTrackStopped {
                meeting_id: M.into(),
                session_id: S.into(),
                participant_id: "p_1".into(),
                kind: "audio".into(),
                file_details: vec![FileDetail {
                    file_path: "/p/1.webm".into(),
                    file_url: "https://cdn.example/p/1.webm".into(),
                }],
            }),
            r#"{"webhookType":"participant-track-recording-stopped","data":{"meetingId":"mtg_1","sessionId":"ses_1","participantId":"p_1","kind":"audio","fileDetails":[{"filePath":"/p/1.webm","fileUrl":"https://cdn.example/p/1.webm"}]}}"#,
        ),
        (
            Event::ParticipantTrackRecordingFailed(track()),
            r#"{"webhookType":"participant-track-recording-failed","data":{"meetingId":"mtg_1","sessionId":"ses_1","participantId":"p_1","kind":"audio"}}"#,
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
    let json = r#"{"webhookType":"recording-stopped","data":{"meetingId":"m","sessionId":"s"}}"#;
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
    for t in WebhookType::ALL.iter().copied() {
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

#[test]
fn hls_started_stored_before_playback_url_still_parses() {
    let old = r#"{"webhookType":"hls-started","data":{"meetingId":"mtg_1","sessionId":"ses_1","downstreamUrl":"https://cdn.example/live.m3u8"}}"#;
    let Event::HlsStarted(data) = serde_json::from_str::<Event>(old).unwrap() else {
        panic!("not hls-started");
    };
    assert_eq!(data.playback_hls_url, data.downstream_url);
}

#[test]
fn optional_fields_are_left_out_not_null() {
    let stopped = Event::RecordingStopped(RecordingStopped {
        meeting_id: M.into(),
        session_id: S.into(),
        file_path: None,
        file_url: None,
        file_id: "f".into(),
    });
    assert_eq!(
        String::from_utf8(stopped.to_json_bytes()).unwrap(),
        r#"{"webhookType":"recording-stopped","data":{"meetingId":"mtg_1","sessionId":"ses_1","fileId":"f"}}"#
    );
    let playable = Event::HlsPlayable(HlsPlayable {
        meeting_id: M.into(),
        session_id: S.into(),
        playback_hls_url: "https://cdn.example/p.m3u8".into(),
        livestream_url: None,
    });
    assert!(!String::from_utf8(playable.to_json_bytes())
        .unwrap()
        .contains("livestreamUrl"));
}

#[test]
fn every_wire_name_is_in_the_catalog_once() {
    let mut names: Vec<&str> = WebhookType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(names.len(), 30);
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 30);
}
