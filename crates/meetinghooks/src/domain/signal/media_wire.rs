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
        "recording" | "livestream" | "hls" | "participant-recording" | "participant-track-recording"
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
        phase,
        details,
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
            let file_path = bounded(&format!("fileDetails[{i}].filePath"), f.file_path, MAX_URL_LEN)?;
            Ok(FileDetail {
                file_path,
                file_url: url(&format!("fileDetails[{i}].fileUrl"), f.file_url)?,
            })
        })
        .collect()
}
