//! A realistic sample of every webhook type, for `POST /v1/endpoints/{id}/test`.

use meetinghooks_webhooks::{
    Event, FileDetail, HlsPlayable, HlsStarted, MeetingRef, ParticipantData, ParticipantRecording,
    ParticipantRecordingStopped, ParticipantRef, ParticipantTrack, ParticipantTrackStopped,
    RecordingStopped, SessionEnded, SessionStarted, WebhookType,
};

const HLS_URL: &str = "https://cdn.example.com/hls/test-meeting/index.m3u8";

/// A realistic example of each webhook type, for test sends.
pub fn sample_event(webhook_type: WebhookType) -> Event {
    let meeting_id = "test-meeting".to_owned();
    let session_id = "000000000000000000000000".to_owned();
    let start = "2026-01-01T10:00:00.000+00:00".to_owned();
    let r = MeetingRef {
        meeting_id: meeting_id.clone(),
        session_id: session_id.clone(),
    };
    let participant_id = "test-participant".to_owned();
    let participant = ParticipantData {
        meeting_id: meeting_id.clone(),
        session_id: session_id.clone(),
        participant_id: participant_id.clone(),
        participant_name: "Test Participant".into(),
    };
    let recording = ParticipantRecording {
        meeting_id: meeting_id.clone(),
        session_id: session_id.clone(),
        participant_id: participant_id.clone(),
        file_format: "webm".into(),
    };
    let track = ParticipantTrack {
        meeting_id: meeting_id.clone(),
        session_id: session_id.clone(),
        participant_id: participant_id.clone(),
        kind: "audio".into(),
    };
    let files = vec![FileDetail {
        file_path: "/recordings/test-meeting/test-participant.webm".into(),
        file_url: "https://cdn.example.com/recordings/test-meeting/test-participant.webm".into(),
    }];
    match webhook_type {
        WebhookType::ParticipantJoined => Event::ParticipantJoined(participant),
        WebhookType::ParticipantLeft => Event::ParticipantLeft(participant),
        WebhookType::SessionStarted => Event::SessionStarted(SessionStarted {
            session_id,
            meeting_id,
            start,
        }),
        WebhookType::SessionEnded => Event::SessionEnded(SessionEnded {
            session_id,
            meeting_id,
            start,
            end: "2026-01-01T10:30:00.000+00:00".into(),
        }),
        WebhookType::RecordingStarting => Event::RecordingStarting(r),
        WebhookType::RecordingStarted => Event::RecordingStarted(r),
        WebhookType::RecordingStopping => Event::RecordingStopping(r),
        WebhookType::RecordingStopped => Event::RecordingStopped(RecordingStopped {
            meeting_id,
            session_id,
            file_path: Some("/recordings/test-meeting/000000000000000000000001.mp4".into()),
            file_url: Some(
                "https://cdn.example.com/recordings/test-meeting/000000000000000000000001.mp4"
                    .into(),
            ),
            file_id: "000000000000000000000001".into(),
        }),
        WebhookType::RecordingFailed => Event::RecordingFailed(r),
        WebhookType::LivestreamStarting => Event::LivestreamStarting(r),
        WebhookType::LivestreamStarted => Event::LivestreamStarted(r),
        WebhookType::LivestreamStopping => Event::LivestreamStopping(r),
        WebhookType::LivestreamStopped => Event::LivestreamStopped(r),
        WebhookType::LivestreamFailed => Event::LivestreamFailed(r),
        WebhookType::HlsStarting => Event::HlsStarting(r),
        WebhookType::HlsStarted => Event::HlsStarted(HlsStarted {
            meeting_id,
            session_id,
            downstream_url: HLS_URL.into(),
            playback_hls_url: HLS_URL.into(),
        }),
        WebhookType::HlsPlayable => Event::HlsPlayable(HlsPlayable {
            meeting_id,
            session_id,
            playback_hls_url: HLS_URL.into(),
            livestream_url: Some(HLS_URL.into()),
        }),
        WebhookType::HlsStopping => Event::HlsStopping(r),
        WebhookType::HlsStopped => Event::HlsStopped(r),
        WebhookType::HlsFailed => Event::HlsFailed(r),
        WebhookType::ParticipantRecordingStarting => Event::ParticipantRecordingStarting(recording),
        WebhookType::ParticipantRecordingStarted => Event::ParticipantRecordingStarted(recording),
        WebhookType::ParticipantRecordingStopping => Event::ParticipantRecordingStopping(recording),
        WebhookType::ParticipantRecordingStopped => {
            Event::ParticipantRecordingStopped(ParticipantRecordingStopped {
                meeting_id,
                session_id,
                participant_id,
                file_details: files,
            })
        }
        WebhookType::ParticipantRecordingFailed => {
            Event::ParticipantRecordingFailed(ParticipantRef {
                meeting_id,
                session_id,
                participant_id,
            })
        }
        WebhookType::ParticipantTrackRecordingStarting => {
            Event::ParticipantTrackRecordingStarting(track)
        }
        WebhookType::ParticipantTrackRecordingStarted => {
            Event::ParticipantTrackRecordingStarted(track)
        }
        WebhookType::ParticipantTrackRecordingStopping => {
            Event::ParticipantTrackRecordingStopping(track)
        }
        WebhookType::ParticipantTrackRecordingStopped => {
            Event::ParticipantTrackRecordingStopped(ParticipantTrackStopped {
                meeting_id,
                session_id,
                participant_id,
                kind: track.kind,
                file_details: files,
            })
        }
        WebhookType::ParticipantTrackRecordingFailed => {
            Event::ParticipantTrackRecordingFailed(track)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_is_of_its_type_and_round_trips() {
        for t in WebhookType::ALL.iter().copied() {
            let event = sample_event(t);
            assert_eq!(event.webhook_type(), t);
            let parsed: Event = serde_json::from_slice(&event.to_json_bytes()).unwrap();
            assert_eq!(parsed, event);
        }
    }
}
