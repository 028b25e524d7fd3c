//! Signals: what the media layer reports, parsed and validated before anything is applied.

use serde::Deserialize;
use serde_json::Value;

use super::ids::{is_valid_meeting_id, MAX_ID_LEN};
use super::media::MediaSignal;
use super::timestamp::Timestamp;

pub const MAX_NAME_LEN: usize = 256;
pub const MAX_URL_LEN: usize = 2048;
/// How far ahead of our clock a signal's `at` may be by default (`signal_max_ahead`): clocks
/// drift, but a time far in the future would make every later signal look stale.
pub const MAX_FUTURE_SKEW_MS: i64 = 5 * 60 * 1000;

/// A validated signal. `at` is already resolved (the receive time when the caller omitted it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub id: String,
    pub meeting_id: String,
    pub at: Timestamp,
    pub kind: SignalKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalKind {
    ParticipantJoined {
        participant_id: String,
        participant_name: String,
    },
    ParticipantLeft {
        participant_id: String,
        reason: LeaveReason,
    },
    /// Recording, livestream, HLS, participant and track recordings (`<resource>.<phase>`).
    Media(MediaSignal),
}

impl SignalKind {
    /// The participant a `participant.*` signal is about (whose record the step loads).
    pub fn participant_id(&self) -> Option<&str> {
        match self {
            SignalKind::ParticipantJoined { participant_id, .. }
            | SignalKind::ParticipantLeft { participant_id, .. } => Some(participant_id),
            SignalKind::Media(_) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    Left,
    Disconnected,
    Removed,
}

/// Why one signal of a batch was refused; `index` is its position in the batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signals[{index}]: {reason}")]
pub struct SignalError {
    pub index: usize,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSignal {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    meeting_id: Option<String>,
    at: Option<String>,
    participant_id: Option<String>,
    participant_name: Option<String>,
    reason: Option<String>,
    #[serde(flatten)]
    media: media_wire::WireMedia,
}

/// Validates a whole batch; the first bad signal fails it. No bound on the age of `at`.
pub fn parse_batch(values: &[Value], received_at: Timestamp) -> Result<Vec<Signal>, SignalError> {
    let window = SignalWindow {
        max_age_ms: i64::MAX,
        max_ahead_ms: MAX_FUTURE_SKEW_MS,
    };
    parse_batch_within(values, received_at, window)
}

/// How far from the receive time a signal's `at` may be.
#[derive(Debug, Clone, Copy)]
pub struct SignalWindow {
    /// Older is refused: a replay from long ago would open sessions nobody holds any more.
    pub max_age_ms: i64,
    /// Later is refused: a time far ahead would make every later signal look stale.
    pub max_ahead_ms: i64,
}

/// [`parse_batch`] with `at` bounded by `window` around `received_at`.
pub fn parse_batch_within(
    values: &[Value],
    received_at: Timestamp,
    window: SignalWindow,
) -> Result<Vec<Signal>, SignalError> {
    values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            parse_one(value, received_at, window).map_err(|reason| SignalError { index, reason })
        })
        .collect()
}

fn parse_one(
    value: &Value,
    received_at: Timestamp,
    window: SignalWindow,
) -> Result<Signal, String> {
    if !value.is_object() {
        return Err("a signal must be a JSON object".into());
    }
    let wire = WireSignal::deserialize(value).map_err(|e| e.to_string())?;
    let id = bounded("id", wire.id, MAX_ID_LEN)?;
    let meeting_id = required("meetingId", wire.meeting_id)?;
    if !is_valid_meeting_id(&meeting_id) {
        return Err("meetingId must be 1-128 characters from [A-Za-z0-9._-]".into());
    }
    let at = match wire.at {
        None => received_at,
        Some(text) => {
            let at = Timestamp::parse_rfc3339(&text)
                .ok_or_else(|| format!("at {text:?} is not an RFC 3339 time"))?;
            if at.0 > received_at.0.saturating_add(window.max_ahead_ms) {
                return Err(format!(
                    "at {text:?} is further in the future than signal_max_ahead ({} s)",
                    window.max_ahead_ms / 1000
                ));
            }
            if at.0 < received_at.0.saturating_sub(window.max_age_ms) {
                return Err(format!(
                    "at {text:?} is older than signal_max_age ({} s)",
                    window.max_age_ms / 1000
                ));
            }
            at
        }
    };
    let kind_name = required("type", wire.kind)?;
    let kind = match kind_name.as_str() {
        "participant.joined" => SignalKind::ParticipantJoined {
            participant_id: bounded("participantId", wire.participant_id, MAX_ID_LEN)?,
            participant_name: bounded("participantName", wire.participant_name, MAX_NAME_LEN)?,
        },
        "participant.left" => SignalKind::ParticipantLeft {
            participant_id: bounded("participantId", wire.participant_id, MAX_ID_LEN)?,
            reason: match required("reason", wire.reason)?.as_str() {
                "left" => LeaveReason::Left,
                "disconnected" => LeaveReason::Disconnected,
                "removed" => LeaveReason::Removed,
                other => {
                    return Err(format!(
                        "reason {other:?} is not one of left, disconnected, removed"
                    ))
                }
            },
        },
        other => match media_wire::resource_and_phase(other) {
            Some((resource, phase)) => SignalKind::Media(media_wire::parse(
                resource,
                phase,
                wire.participant_id,
                wire.media,
            )?),
            None => return Err(unknown_type(other)),
        },
    };
    Ok(Signal {
        id,
        meeting_id,
        at,
        kind,
    })
}

/// Every signal type, as `type` spells it.
pub fn signal_types() -> Vec<String> {
    let mut types = vec![
        "participant.joined".to_owned(),
        "participant.left".to_owned(),
    ];
    types.extend(super::media::media_signal_types());
    types
}

/// The error for an unknown `type`, with a hint when it is the webhook's name.
fn unknown_type(given: &str) -> String {
    let types = signal_types();
    if let Some(dash) = given.rfind('-') {
        let dotted = format!("{}.{}", &given[..dash], &given[dash + 1..]);
        if types.contains(&dotted) {
            return format!(
                "unknown type {given:?}: signal types use a dot, did you mean {dotted:?}? \
                 (\"{given}\" is the webhook it causes)"
            );
        }
    }
    format!(
        "unknown type {given:?}; signal types are {}",
        types.join(", ")
    )
}

/// True for an absolute `http`/`https` URL with a host.
pub fn is_http_url(text: &str) -> bool {
    match url::Url::parse(text) {
        Ok(url) => matches!(url.scheme(), "http" | "https") && url.host_str().is_some(),
        Err(_) => false,
    }
}

pub(super) fn required(field: &str, value: Option<String>) -> Result<String, String> {
    value.ok_or_else(|| format!("{field} is required"))
}

pub(super) fn bounded(field: &str, value: Option<String>, max: usize) -> Result<String, String> {
    let value = required(field, value)?;
    check_len(field, &value, max)?;
    Ok(value)
}

pub(super) fn optional_bounded(
    field: &str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, String> {
    if let Some(v) = &value {
        check_len(field, v, max)?;
    }
    Ok(value)
}

fn check_len(field: &str, value: &str, max: usize) -> Result<(), String> {
    // PostgreSQL text cannot hold NUL; no id or name needs it.
    if value.contains('\0') {
        return Err(format!("{field} must not contain NUL (\\u0000)"));
    }
    let len = value.chars().count();
    if len == 0 || len > max {
        return Err(format!("{field} must be 1-{max} characters, got {len}"));
    }
    Ok(())
}

mod media_wire;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Signal, SignalError> {
        parse_batch(&[v], Timestamp(1_000)).map(|mut s| s.remove(0))
    }

    #[test]
    fn parses_a_join_with_default_time() {
        let s = parse(
            json!({"id":"a","type":"participant.joined","meetingId":"m-1",
            "participantId":"p","participantName":"John"}),
        )
        .unwrap();
        assert_eq!(s.at, Timestamp(1_000));
        assert!(matches!(s.kind, SignalKind::ParticipantJoined { .. }));
    }

    #[test]
    fn names_the_bad_index() {
        let good = json!({"id":"a","type":"livestream.started","meetingId":"m"});
        let bad = json!({"id":"b","type":"nope","meetingId":"m"});
        let err = parse_batch(&[good, bad], Timestamp(0)).unwrap_err();
        assert_eq!(err.index, 1);
        assert!(err.reason.contains("unknown type"));
        assert!(err.reason.contains("hls.stopped"), "{}", err.reason);
        let webhook_name = json!({"id":"c","type":"participant-joined","meetingId":"m"});
        let err = parse_batch(&[webhook_name], Timestamp(0)).unwrap_err();
        assert!(
            err.reason.contains("did you mean \"participant.joined\""),
            "{}",
            err.reason
        );
    }

    #[test]
    fn rejects_bad_fields() {
        let cases = [
            json!({"type":"livestream.started","meetingId":"m"}),
            json!({"id":"a","type":"livestream.started","meetingId":"bad id"}),
            json!({"id":"a","type":"participant.joined","meetingId":"m","participantId":"p"}),
            json!({"id":"a","type":"participant.left","meetingId":"m","participantId":"p","reason":"bored"}),
            json!({"id":"a","type":"hls.started","meetingId":"m","downstreamUrl":"ftp://x/y"}),
            json!({"id":"a","type":"livestream.started","meetingId":"m","at":"2022-07-05T15:60:35Z"}),
            json!({"id":"a","type":"livestream.started","meetingId":"m","at":"9999-01-01T00:00:00Z"}),
            json!({"id":"x".repeat(129),"type":"livestream.started","meetingId":"m"}),
            json!({"id":7,"type":"livestream.started","meetingId":"m"}),
            json!("not an object"),
        ];
        for case in cases {
            assert!(parse(case.clone()).is_err(), "accepted {case}");
        }
    }
}
