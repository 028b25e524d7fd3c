//! The media signals' wire fields and their validation: each field only where it means
//! something, required where the event needs it.

use meetinghooks_webhooks::FileDetail;
use serde::Deserialize;

use super::{bounded, is_http_url, optional_bounded, MAX_URL_LEN};
use crate::domain::ids::MAX_ID_LEN;
use crate::domain::media::{MediaDetails, MediaSignal, Phase, Resource};

/// At most this many files in one `fileDetails`.
pub const MAX_FILE_DETAILS: usize = 32;

/// The media fields of a signal, as sent (flattened into the signal object).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireMedia {
    /// One of several concurrent recordings, livestreams or HLS streams (e.g. an egress id).
    lifecycle_id: Option<String>,
    file_id: Option<String>,
    file_path: Option<String>,
    file_url: Option<String>,
    downstream_url: Option<String>,
    playback_hls_url: Option<String>,
    livestream_url: Option<String>,
    file_format: Option<String>,
    #[serde(rename = "kind")]
    track_kind: Option<String>,
    file_details: Option<Vec<WireFileDetail>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireFileDetail {
    file_path: Option<String>,
    file_url: Option<String>,
}

/// Splits `participant-recording.started` into its resource and phase names, if both exist.
pub(super) fn resource_and_phase(type_name: &str) -> Option<(&str, Phase)> {
    let (resource, phase) = type_name.rsplit_once('.')?;
    let phase = Phase::ALL.into_iter().find(|p| p.name() == phase)?;
    let known = matches!(
        resource,
        "recording"
            | "livestream"
            | "hls"
            | "participant-recording"
            | "participant-track-recording"
    );
    (known && (phase != Phase::Playable || resource == "hls")).then_some((resource, phase))
}

pub(super) fn parse(
    resource: &str,
    phase: Phase,
    participant_id: Option<String>,
    wire: WireMedia,
) -> Result<MediaSignal, String> {
    let mut details = MediaDetails::default();
    let lifecycle = match resource {
        "recording" | "livestream" | "hls" => {
            optional_bounded("lifecycleId", wire.lifecycle_id, MAX_ID_LEN)?
        }
        _ if wire.lifecycle_id.is_some() => {
            return Err(format!("lifecycleId is not allowed on {resource} signals"))
        }
        _ => None,
    };
    let resource = match resource {
        "recording" => {
            if matches!(phase, Phase::Starting | Phase::Started | Phase::Stopped) {
                details.file_id = optional_bounded("fileId", wire.file_id, MAX_ID_LEN)?;
                details.file_path = optional_bounded("filePath", wire.file_path, MAX_URL_LEN)?;
                details.file_url = optional_url("fileUrl", wire.file_url)?;
            }
            Resource::Recording
        }
        "livestream" => Resource::Livestream,
        "hls" => {
            match phase {
                Phase::Started => {
                    details.downstream_url = optional_url("downstreamUrl", wire.downstream_url)?;
                    details.playback_hls_url =
                        optional_url("playbackHlsUrl", wire.playback_hls_url)?;
                    if details.downstream_url.is_none() && details.playback_hls_url.is_none() {
                        return Err("hls.started needs playbackHlsUrl or downstreamUrl \
                                    (an absolute http(s) URL)"
                            .into());
                    }
                }
                Phase::Playable => {
                    details.playback_hls_url = Some(url("playbackHlsUrl", wire.playback_hls_url)?);
                    details.livestream_url = optional_url("livestreamUrl", wire.livestream_url)?;
                }
                _ => {}
            }
            Resource::Hls
        }
        "participant-recording" => {
            if matches!(phase, Phase::Starting | Phase::Started) {
                details.file_format = Some(file_format(wire.file_format)?);
            }
            if phase == Phase::Stopped {
                details.file_details = file_details(wire.file_details)?;
            }
            Resource::ParticipantRecording {
                participant_id: bounded("participantId", participant_id, MAX_ID_LEN)?,
            }
        }
        _ => {
            if phase == Phase::Stopped {
                details.file_details = file_details(wire.file_details)?;
            }
            Resource::ParticipantTrackRecording {
                participant_id: bounded("participantId", participant_id, MAX_ID_LEN)?,
                kind: track_kind(wire.track_kind)?,
            }
        }
    };
    Ok(MediaSignal {
        resource,
        lifecycle,
        phase,
        details: Box::new(details),
    })
}

fn url(field: &str, value: Option<String>) -> Result<String, String> {
    let value = bounded(field, value, MAX_URL_LEN)?;
    if !is_http_url(&value) {
        return Err(format!("{field} must be an absolute http(s) URL"));
    }
    Ok(value)
}

fn optional_url(field: &str, value: Option<String>) -> Result<Option<String>, String> {
    value.map(|v| url(field, Some(v))).transpose()
}

fn file_format(value: Option<String>) -> Result<String, String> {
    let value = bounded("fileFormat", value, 16)?;
    if !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("fileFormat must be 1-16 letters or digits, e.g. \"webm\"".into());
    }
    Ok(value)
}

fn track_kind(value: Option<String>) -> Result<String, String> {
    let value = bounded("kind", value, 32)?;
    if !value.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err("kind must be 1-32 letters, e.g. \"audio\"".into());
    }
    Ok(value)
}

fn file_details(value: Option<Vec<WireFileDetail>>) -> Result<Vec<FileDetail>, String> {
    let files = value.unwrap_or_default();
    if files.len() > MAX_FILE_DETAILS {
        return Err(format!(
            "fileDetails holds at most {MAX_FILE_DETAILS} files, got {}",
            files.len()
        ));
    }
    files
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let file_path = bounded(
                &format!("fileDetails[{i}].filePath"),
                f.file_path,
                MAX_URL_LEN,
            )?;
            Ok(FileDetail {
                file_path,
                file_url: url(&format!("fileDetails[{i}].fileUrl"), f.file_url)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::domain::media::{MediaSignal, Phase, Resource};
    use crate::domain::signal::{parse_batch, signal_types, SignalKind};
    use crate::domain::timestamp::Timestamp;

    fn parse(mut v: Value) -> Result<MediaSignal, String> {
        v["id"] = json!("s");
        v["meetingId"] = json!("m");
        let mut signals = parse_batch(&[v], Timestamp(1_000)).map_err(|e| e.reason)?;
        match signals.remove(0).kind {
            SignalKind::Media(media) => Ok(media),
            other => panic!("not media: {other:?}"),
        }
    }

    #[test]
    fn every_media_type_parses_with_its_required_fields() {
        let files = json!([{"filePath":"/p/1.webm","fileUrl":"https://cdn.example/p/1.webm"}]);
        for name in signal_types()
            .iter()
            .filter(|t| !t.starts_with("participant."))
        {
            let signal = json!({"type": name, "participantId": "p1", "fileFormat": "webm",
                "kind": "audio", "playbackHlsUrl": "https://cdn.example/x.m3u8",
                "fileDetails": files});
            let media = parse(signal).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&media.type_name(), name);
        }
        assert_eq!(signal_types().len(), 2 + 5 + 5 + 6 + 5 + 5);
    }

    #[test]
    fn fields_become_details_where_they_mean_something() {
        let stopped = parse(json!({"type":"recording.stopped","fileId":"f1",
            "filePath":"/encoded/videos/f1.mp4","fileUrl":"https://cdn.example/f1.mp4"}))
        .unwrap();
        assert_eq!(stopped.details.file_id.as_deref(), Some("f1"));
        assert_eq!(
            stopped.details.file_url.as_deref(),
            Some("https://cdn.example/f1.mp4")
        );
        // Not on a phase that cannot use it.
        let failed = parse(json!({"type":"recording.failed","fileId":"f1"})).unwrap();
        assert_eq!(failed.details.file_id, None);
        let track = parse(json!({"type":"participant-track-recording.stopped",
            "participantId":"p1","kind":"video",
            "fileDetails":[{"filePath":"/t.webm","fileUrl":"https://cdn.example/t.webm"}]}))
        .unwrap();
        assert_eq!(
            track.resource,
            Resource::ParticipantTrackRecording {
                participant_id: "p1".into(),
                kind: "video".into()
            }
        );
        assert_eq!(track.phase, Phase::Stopped);
        assert_eq!(track.details.file_details.len(), 1);
        // A lifecycle id where a meeting-wide resource may run several at once; optional.
        assert_eq!(stopped.lifecycle, None);
        let tracked = parse(json!({"type":"livestream.started","lifecycleId":"EG_1"})).unwrap();
        assert_eq!(tracked.lifecycle.as_deref(), Some("EG_1"));
        assert_eq!(tracked.key(), "livestream:EG_1");
        let hls = parse(json!({"type":"hls.started","downstreamUrl":"https://cdn.example/d.m3u8"}))
            .unwrap();
        assert_eq!(hls.details.playback_hls_url, None);
        assert!(hls.details.downstream_url.is_some());
    }

    #[test]
    fn refuses_missing_and_bad_fields_clearly() {
        let cases = [
            (
                json!({"type":"hls.started"}),
                "hls.started needs playbackHlsUrl or downstreamUrl",
            ),
            (
                json!({"type":"hls.started","playbackHlsUrl":"ftp://x/y"}),
                "playbackHlsUrl must be an absolute http(s) URL",
            ),
            (
                json!({"type":"hls.playable","downstreamUrl":"https://x/y"}),
                "playbackHlsUrl is required",
            ),
            (
                json!({"type":"hls.playable","playbackHlsUrl":"https://x/y","livestreamUrl":"x"}),
                "livestreamUrl must be an absolute",
            ),
            (
                json!({"type":"recording.stopped","fileUrl":"/not/a/url"}),
                "fileUrl must be an absolute",
            ),
            (
                json!({"type":"recording.started","filePath":""}),
                "filePath must be 1-2048",
            ),
            (
                json!({"type":"participant-recording.started","fileFormat":"webm"}),
                "participantId is required",
            ),
            (
                json!({"type":"participant-recording.starting","participantId":"p"}),
                "fileFormat is required",
            ),
            (
                json!({"type":"participant-recording.started","participantId":"p","fileFormat":"we bm"}),
                "fileFormat must be 1-16 letters or digits",
            ),
            (
                json!({"type":"participant-track-recording.started","participantId":"p"}),
                "kind is required",
            ),
            (
                json!({"type":"participant-track-recording.failed","participantId":"p","kind":"aud:io"}),
                "kind must be 1-32 letters",
            ),
            (
                json!({"type":"participant-recording.stopped","participantId":"p","fileDetails":[{"filePath":"/a"}]}),
                "fileDetails[0].fileUrl is required",
            ),
            (
                json!({"type":"participant-recording.stopped","participantId":"p","fileDetails":{"filePath":"/a"}}),
                "invalid type",
            ),
            (
                json!({"type":"participant-recording.stopped","participantId":"p","lifecycleId":"x"}),
                "lifecycleId is not allowed on participant-recording signals",
            ),
            (
                json!({"type":"recording.started","lifecycleId":""}),
                "lifecycleId must be 1-128",
            ),
            (json!({"type":"livestream.playable"}), "unknown type"),
            (json!({"type":"recording.paused"}), "unknown type"),
        ];
        for (signal, expected) in cases {
            let err = parse(signal.clone()).expect_err(&signal.to_string());
            assert!(err.contains(expected), "{signal}: {err}");
        }
        let many: Vec<Value> = (0..33)
            .map(|i| json!({"filePath":format!("/{i}"),"fileUrl":"https://cdn.example/x"}))
            .collect();
        let err = parse(
            json!({"type":"participant-recording.stopped","participantId":"p","fileDetails":many}),
        )
        .unwrap_err();
        assert!(err.contains("at most 32 files"), "{err}");
    }

    #[test]
    fn a_webhook_name_as_type_gets_a_hint() {
        for (given, hint) in [
            (
                "participant-track-recording-started",
                "participant-track-recording.started",
            ),
            ("hls-playable", "hls.playable"),
            ("recording-failed", "recording.failed"),
        ] {
            let err = parse(json!({"type": given})).unwrap_err();
            assert!(err.contains(&format!("did you mean {hint:?}")), "{err}");
        }
    }
}
