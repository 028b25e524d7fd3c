//! A participant egress to a file → that participant's recording (`participant-recording.*`).
//!
//! Track and track-composite egress name tracks, not a participant and a kind, so they stay
//! unmapped; so do a participant egress's stream and segment outputs (no catalog event).

use serde_json::Value;

use super::event::EgressInfo;
use super::mapping::bounded_text;
use crate::domain::ids::MAX_ID_LEN;
use crate::domain::media::{MediaSignal, Phase, Resource};
use crate::domain::signal::{is_http_url, MAX_URL_LEN};
use meetinghooks_webhooks::FileDetail;

/// The recording signal for a participant egress in `phase`, if it records a file.
pub fn recording(egress: &EgressInfo, phase: Phase) -> Option<MediaSignal> {
    let request = egress.participant.as_ref()?;
    let identity = request.get("identity")?.as_str()?;
    let len = identity.chars().count();
    if len == 0 || len > MAX_ID_LEN || identity.contains('\0') {
        return None;
    }
    let output = file_output(request);
    if output.is_none() && egress.file_results.is_empty() && egress.file.is_none() {
        return None;
    }
    let mut media = MediaSignal::bare(
        Resource::ParticipantRecording {
            participant_id: identity.to_owned(),
        },
        phase,
    );
    if matches!(phase, Phase::Starting | Phase::Started) {
        media.details.file_format = Some(file_format(egress, output));
    }
    if phase == Phase::Stopped {
        media.details.file_details = egress
            .file_results
            .iter()
            .chain(egress.file.as_ref())
            .filter_map(|f| {
                Some(FileDetail {
                    file_path: bounded_text(&f.filename)?,
                    file_url: Some(f.location.clone())
                        .filter(|l| is_http_url(l) && l.len() <= MAX_URL_LEN)?,
                })
            })
            .collect();
    }
    Some(media)
}

/// The request's first file output (`fileOutputs`, `file_outputs` or the older `file`).
fn file_output(request: &Value) -> Option<&Value> {
    ["fileOutputs", "file_outputs"]
        .iter()
        .find_map(|k| request.get(*k)?.as_array()?.first())
        .or_else(|| request.get("file").filter(|f| f.is_object()))
}

/// The file's extension (from a result, else the requested path), else its `fileType`, else
/// `mp4`, LiveKit's default for a participant with video.
fn file_format(egress: &EgressInfo, output: Option<&Value>) -> String {
    let extension = |name: &str| {
        let (_, ext) = name.rsplit_once('.')?;
        let ok = (1..=16).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric());
        ok.then(|| ext.to_ascii_lowercase())
    };
    let from_results = egress
        .file_results
        .iter()
        .chain(egress.file.as_ref())
        .find_map(|f| extension(&f.filename));
    let from_request = || {
        let path = output?.get("filepath")?.as_str()?;
        extension(path)
    };
    let from_type = || match output?.get("fileType").or(output?.get("file_type"))? {
        Value::String(t) if t == "OGG" => Some("ogg".to_owned()),
        Value::String(t) if t == "MP3" => Some("mp3".to_owned()),
        Value::Number(n) if n.as_u64() == Some(2) => Some("ogg".to_owned()),
        Value::Number(n) if n.as_u64() == Some(3) => Some("mp3".to_owned()),
        _ => None,
    };
    from_results
        .or_else(from_request)
        .or_else(from_type)
        .unwrap_or_else(|| "mp4".to_owned())
}
