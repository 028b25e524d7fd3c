//! LiveKit events → our signals (or the end of a session), pure. What has no catalog event
//! yet is ignored with a reason, never an error: LiveKit would only retry it.

use super::event::{
    DisconnectReason, EgressInfo, EgressScope, EgressStatus, OutputKind, Participant, WebhookEvent,
};
use super::participant_egress;
use crate::domain::ids::{derived_hex24, is_valid_meeting_id, MAX_ID_LEN};
use crate::domain::media::{MediaSignal, Phase, Resource};
use crate::domain::signal::{
    is_http_url, LeaveReason, Signal, SignalKind, MAX_FUTURE_SKEW_MS, MAX_NAME_LEN, MAX_URL_LEN,
};
use crate::domain::timestamp::Timestamp;
use crate::sources::HlsRewrite;

/// What one LiveKit event asks of us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    /// Apply through `Store::ingest`, as one batch.
    Signals(Vec<Signal>),
    /// `room_finished`: the meeting's session ends at `at`, everyone still inside leaving first.
    EndSession { meeting_id: String, at: Timestamp },
    /// Nothing in the catalog (yet); answered 200 and counted.
    Ignored(Ignored),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// An event name we do not know (LiveKit adds them over time).
    UnknownEvent(String),
    /// Known, but the catalog has no event for it: `room_started` (a session starts with its
    /// first participant), tracks, ingress, agents.
    NoCatalogEvent(String),
    /// A track or track-composite egress (it names no participant or kind), or a participant
    /// egress without a file output or a valid identity.
    ParticipantEgress,
    /// An active HLS egress whose playlist location LiveKit has not reported yet.
    NoPlaylist,
}

impl Ignored {
    pub fn reason(&self) -> String {
        match self {
            Ignored::UnknownEvent(name) => format!("unknown event {name:?}"),
            Ignored::NoCatalogEvent(name) => format!("{name} has no catalog event"),
            Ignored::ParticipantEgress => {
                "track egress, and participant egress without a file, have no catalog event".into()
            }
            Ignored::NoPlaylist => "HLS egress without a playlist location yet".into(),
        }
    }
}

/// A LiveKit event we cannot represent; answered 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MapError(pub String);

/// What the mapping needs besides the event.
#[derive(Debug, Clone)]
pub struct MapContext<'a> {
    /// Our idempotency key: the event's `id`, or one derived from the body when it has none.
    pub event_id: &'a str,
    pub received_at: Timestamp,
    pub hls_rewrite: Option<&'a HlsRewrite>,
}

pub fn map(event: &WebhookEvent, cx: &MapContext<'_>) -> Result<Mapped, MapError> {
    // Seconds; a time ahead of ours is clamped as the signals API would refuse it.
    let created_ms = match event.created_at {
        0 => cx.received_at.0,
        secs => secs.saturating_mul(1000),
    };
    let clamp = |ms: i64| Timestamp(ms.min(cx.received_at.0 + MAX_FUTURE_SKEW_MS));
    match event.event.as_str() {
        "participant_joined" => {
            let (meeting_id, p) = participant_event(event)?;
            // The connection's own join time (ms) orders it against its identity's other
            // stays better than `createdAt`'s whole seconds.
            let at = match p.joined_ms() {
                0 => created_ms,
                ms => ms,
            };
            let kind = SignalKind::ParticipantJoined {
                participant_id: p.identity.clone(),
                participant_name: display_name(p),
            };
            Ok(one(cx, meeting_id, clamp(at), kind))
        }
        "participant_left" | "participant_connection_aborted" => {
            let (meeting_id, p) = participant_event(event)?;
            // A leave always follows its own connection's join, even within one second.
            let at = created_ms.max(p.joined_ms().saturating_add(1));
            let reason = if event.event == "participant_connection_aborted" {
                // The engine applies it only to a participant it saw join.
                LeaveReason::Disconnected
            } else {
                leave_reason(p.disconnect_reason)
            };
            let kind = SignalKind::ParticipantLeft {
                participant_id: p.identity.clone(),
                reason,
            };
            Ok(one(cx, meeting_id, clamp(at), kind))
        }
        "room_finished" => {
            let room = event
                .room
                .as_ref()
                .ok_or_else(|| MapError("room_finished without room".into()))?;
            Ok(Mapped::EndSession {
                meeting_id: meeting_id(&room.name)?,
                at: clamp(created_ms),
            })
        }
        "egress_started" | "egress_updated" | "egress_ended" => {
            let egress = event
                .egress_info
                .as_ref()
                .ok_or_else(|| MapError(format!("{} without egressInfo", event.event)))?;
            map_egress(egress, cx, clamp(egress_at(egress, created_ms)))
        }
        "room_started" | "track_published" | "track_unpublished" | "ingress_started"
        | "ingress_ended" | "agent_job_started" | "agent_job_ended" => Ok(Mapped::Ignored(
            Ignored::NoCatalogEvent(event.event.clone()),
        )),
        other => Ok(Mapped::Ignored(Ignored::UnknownEvent(other.to_owned()))),
    }
}

fn egress_at(egress: &EgressInfo, created_ms: i64) -> i64 {
    match egress.latest_ms() {
        0 => created_ms,
        ms => ms,
    }
}

fn map_egress(egress: &EgressInfo, cx: &MapContext<'_>, at: Timestamp) -> Result<Mapped, MapError> {
    if egress.egress_id.is_empty() {
        return Err(MapError("egressInfo without egressId".into()));
    }
    let meeting_id = meeting_id(&egress.room_name)?;
    let phase = match egress.status {
        EgressStatus::Starting => Phase::Starting,
        EgressStatus::Active => Phase::Started,
        EgressStatus::Ending => Phase::Stopping,
        EgressStatus::Complete | EgressStatus::LimitReached => Phase::Stopped,
        // ABORTED: stopped before it became active, so it never produced what was asked.
        EgressStatus::Failed | EgressStatus::Aborted => Phase::Failed,
    };
    if egress.scope() == EgressScope::Participant {
        let Some(media) = participant_egress::recording(egress, phase) else {
            return Ok(Mapped::Ignored(Ignored::ParticipantEgress));
        };
        return Ok(Mapped::Signals(vec![Signal {
            id: bounded_id(cx.event_id),
            meeting_id,
            at,
            kind: SignalKind::Media(media),
        }]));
    }
    let outputs = egress.outputs();
    let mut signals = Vec::with_capacity(outputs.len());
    for output in &outputs {
        // One lifecycle per (egressId, output kind); the file id is the egress id.
        let mut media = match output {
            OutputKind::File => {
                let mut media = MediaSignal::recording(phase, None);
                if matches!(phase, Phase::Starting | Phase::Started | Phase::Stopped) {
                    media.details.file_id = Some(bounded_id(&egress.egress_id));
                }
                if phase == Phase::Stopped {
                    let file = egress
                        .file_results
                        .iter()
                        .chain(egress.file.as_ref())
                        .next();
                    if let Some(file) = file {
                        media.details.file_path = bounded_text(&file.filename);
                        media.details.file_url = Some(file.location.clone())
                            .filter(|l| is_http_url(l) && l.len() <= MAX_URL_LEN);
                    }
                }
                media
            }
            OutputKind::Stream => MediaSignal::bare(Resource::Livestream, phase),
            OutputKind::Segments if phase == Phase::Started => {
                let Some(location) = egress.playlist_location() else {
                    continue;
                };
                let url = match cx.hls_rewrite {
                    Some(rewrite) => rewrite.apply(location),
                    None => location.to_owned(),
                };
                if !is_http_url(&url) || url.len() > MAX_URL_LEN {
                    return Err(MapError(format!(
                        "HLS playlist location {url:?} is not an http(s) URL"
                    )));
                }
                let mut media = MediaSignal::bare(Resource::Hls, phase);
                media.details.playback_hls_url = Some(url.clone());
                media.details.downstream_url = Some(url);
                media
            }
            OutputKind::Segments => MediaSignal::bare(Resource::Hls, phase),
        };
        media.lifecycle = Some(bounded_id(&egress.egress_id));
        let kind = SignalKind::Media(media);
        let suffix = match output {
            OutputKind::File => "file",
            OutputKind::Stream => "stream",
            OutputKind::Segments => "segments",
        };
        let id = if outputs.len() == 1 {
            cx.event_id.to_owned()
        } else {
            format!("{}:{suffix}", cx.event_id)
        };
        signals.push(Signal {
            id: bounded_id(&id),
            meeting_id: meeting_id.clone(),
            at,
            kind,
        });
    }
    if signals.is_empty() {
        let why = if outputs.contains(&OutputKind::Segments) {
            Ignored::NoPlaylist
        } else {
            Ignored::NoCatalogEvent("an egress without file, stream or segment outputs".into())
        };
        return Ok(Mapped::Ignored(why));
    }
    Ok(Mapped::Signals(signals))
}

fn leave_reason(reason: DisconnectReason) -> LeaveReason {
    match reason {
        DisconnectReason::ClientInitiated => LeaveReason::Left,
        DisconnectReason::ParticipantRemoved
        | DisconnectReason::RoomDeleted
        | DisconnectReason::RoomClosed => LeaveReason::Removed,
        // Timeouts, signal close, migration…: the participant may come back within the grace.
        _ => LeaveReason::Disconnected,
    }
}

fn participant_event(event: &WebhookEvent) -> Result<(String, &Participant), MapError> {
    let room = event
        .room
        .as_ref()
        .ok_or_else(|| MapError(format!("{} without room", event.event)))?;
    let p = event
        .participant
        .as_ref()
        .ok_or_else(|| MapError(format!("{} without participant", event.event)))?;
    let len = p.identity.chars().count();
    if len == 0 || len > MAX_ID_LEN || p.identity.contains('\0') {
        return Err(MapError(format!(
            "participant identity must be 1-{MAX_ID_LEN} characters"
        )));
    }
    Ok((meeting_id(&room.name)?, p))
}

/// The meeting a room is: its name when that is a meeting id (1-128 of `[A-Za-z0-9._-]`),
/// else `lk-` and a digest of the name, so a room named `Daily stand-up` or `会議` loses no
/// event (a 400 would be dropped by LiveKit, never retried).
pub fn meeting_id(room_name: &str) -> Result<String, MapError> {
    if room_name.is_empty() {
        return Err(MapError("room without a name".into()));
    }
    if is_valid_meeting_id(room_name) {
        Ok(room_name.to_owned())
    } else {
        Ok(format!(
            "lk-{}",
            derived_hex24(&["livekit-room", room_name])
        ))
    }
}

fn one(cx: &MapContext<'_>, meeting_id: String, at: Timestamp, kind: SignalKind) -> Mapped {
    Mapped::Signals(vec![Signal {
        id: bounded_id(cx.event_id),
        meeting_id,
        at,
        kind,
    }])
}

/// Ids longer than ours are replaced by a digest of themselves, still unique per event.
fn bounded_id(id: &str) -> String {
    if id.chars().count() <= MAX_ID_LEN && !id.contains('\0') {
        id.to_owned()
    } else {
        derived_hex24(&[id])
    }
}

/// A LiveKit file name as a `filePath`, when it fits one.
pub(super) fn bounded_text(text: &str) -> Option<String> {
    let len = text.chars().count();
    (len > 0 && len <= MAX_URL_LEN && !text.contains('\0')).then(|| text.to_owned())
}

/// The catalog needs a name; LiveKit's is optional, so the identity stands in.
fn display_name(p: &Participant) -> String {
    let name: String = p
        .name
        .chars()
        .filter(|c| *c != '\0')
        .take(MAX_NAME_LEN)
        .collect();
    if name.is_empty() {
        p.identity.clone()
    } else {
        name
    }
}
