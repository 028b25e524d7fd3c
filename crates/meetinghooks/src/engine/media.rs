//! The media lifecycle: one state machine per (session, resource).
//!
//! starting → started → (HLS: playable) → stopping → stopped, and failed from any live
//! phase. A signal may skip phases; it then emits only what it reports, except that
//! `hls-playable` without `hls-started` first emits `hls-started` (with the playable URL),
//! because playable means started and the classic catalog's receivers only read
//! `hls-started`. A resource opens with `-starting` or `-started`, so a receiver never sees
//! `-stopping`, `-stopped` or `-failed` for something it did not see begin. A repeat, or a
//! phase the resource is already past, emits nothing. The session's end closes every live
//! resource first: `-failed` if it never got past starting, `-stopped` otherwise.
//!
//! A meeting-wide resource may run several lifecycles at once, told apart by a lifecycle id
//! (LiveKit: the egress id); each is its own state machine. Those tracked lifecycles may
//! outlive the participants (see `state::Closing`).

use meetinghooks_webhooks::{
    Event, HlsPlayable, HlsStarted, MeetingRef, ParticipantRecording, ParticipantRecordingStopped,
    ParticipantRef, ParticipantTrack, ParticipantTrackStopped, RecordingStopped,
};

use super::state::{LivePhase, MediaState};
use super::Run;
use crate::domain::ids::derived_hex24;
use crate::domain::media::{MediaDetails, MediaSignal, Phase, Resource};
use crate::domain::timestamp::Timestamp;

/// Which live media a session's end closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Closes {
    All,
    /// All but the tracked lifecycles (egresses), which a closing session waits for.
    Untracked,
}

/// What one signal does to one resource: the phases to emit, in order, and the phase it is
/// left in (`None`: not live, i.e. never opened, stopped or failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub emit: Vec<Phase>,
    pub next: Option<LivePhase>,
}

/// The state machine itself, pure.
pub fn transition(current: Option<LivePhase>, target: Phase) -> Transition {
    let stay = Transition {
        emit: Vec::new(),
        next: current,
    };
    let live_target = match target {
        Phase::Starting => LivePhase::Starting,
        Phase::Started => LivePhase::Started,
        Phase::Playable => LivePhase::Playable,
        Phase::Stopping => LivePhase::Stopping,
        Phase::Stopped | Phase::Failed => {
            return match current {
                Some(_) => Transition {
                    emit: vec![target],
                    next: None,
                },
                None => stay,
            }
        }
    };
    // Stopping something that never opened would tell a receiver of an end without a start.
    if current.is_none() && live_target == LivePhase::Stopping {
        return stay;
    }
    if current.is_some_and(|c| c >= live_target) {
        return stay;
    }
    let mut emit = Vec::with_capacity(2);
    if target == Phase::Playable && current.is_none_or(|c| c < LivePhase::Started) {
        emit.push(Phase::Started);
    }
    emit.push(target);
    Transition {
        emit,
        next: Some(live_target),
    }
}

impl Run<'_> {
    /// Applies a (fresh, in-order) media signal to the ongoing session.
    pub(super) fn apply_media(&mut self, signal: &MediaSignal, signal_id: &str) {
        let session = self.session();
        let index = session
            .media
            .iter()
            .position(|m| m.resource == signal.resource && m.lifecycle == signal.lifecycle);
        let current = index.map(|i| session.media[i].phase);
        let Transition { emit, next } = transition(current, signal.phase);
        if emit.is_empty() {
            return;
        }
        let mut state = match index {
            Some(i) => self.session().media.remove(i),
            None => MediaState {
                resource: signal.resource.clone(),
                lifecycle: signal.lifecycle.clone(),
                phase: LivePhase::Starting,
                file_id: None,
                file_path: None,
                file_url: None,
                file_format: None,
            },
        };
        remember(&mut state, &signal.details);
        if state.resource == Resource::Recording && state.file_id.is_none() {
            state.file_id = Some(derived_hex24(&[
                self.project_id,
                self.meeting_id,
                signal_id,
                "fileId",
            ]));
        }
        for phase in emit {
            let event = self.media_event(&state, phase, &signal.details);
            self.emit(event);
        }
        if let Some(phase) = next {
            state.phase = phase;
            // Back where it was: `media` stays in opening order.
            let session = self.session();
            let at = index
                .unwrap_or(session.media.len())
                .min(session.media.len());
            session.media.insert(at, state);
        }
    }

    /// Closes every live resource of the ongoing session at `end`, before its
    /// `session-ended`. A signal dated at or before `end` about one of them is then stale:
    /// it belonged to the closed session and must not reopen the resource in the next one.
    pub(super) fn close_media(&mut self, end: Timestamp, which: Closes) {
        let (mut live, kept) = std::mem::take(&mut self.session().media)
            .into_iter()
            .partition(|m: &MediaState| which == Closes::All || m.lifecycle.is_none());
        self.session().media = kept;
        live.sort_by(|a, b| (&a.resource, &a.lifecycle).cmp(&(&b.resource, &b.lifecycle)));
        let none = MediaDetails::default();
        for state in live {
            let clock = self.meeting.state.last_at.entry(state.key()).or_insert(end);
            *clock = (*clock).max(end.plus_millis(1));
            let phase = match state.phase {
                LivePhase::Starting => Phase::Failed,
                _ => Phase::Stopped,
            };
            let event = self.media_event(&state, phase, &none);
            self.emit(event);
        }
    }

    /// The event for `phase` of a resource; `details` is the signal that caused it.
    fn media_event(&mut self, state: &MediaState, phase: Phase, details: &MediaDetails) -> Event {
        let MeetingRef {
            meeting_id,
            session_id,
        } = self.meeting_ref();
        let r = MeetingRef {
            meeting_id: meeting_id.clone(),
            session_id: session_id.clone(),
        };
        match (&state.resource, phase) {
            (Resource::Recording, Phase::Starting) => Event::RecordingStarting(r),
            (Resource::Recording, Phase::Started) => Event::RecordingStarted(r),
            (Resource::Recording, Phase::Stopping) => Event::RecordingStopping(r),
            (Resource::Recording, Phase::Stopped) => Event::RecordingStopped(RecordingStopped {
                meeting_id,
                session_id,
                file_path: state.file_path.clone(),
                file_url: state.file_url.clone(),
                file_id: state.file_id.clone().unwrap_or_default(),
            }),
            (Resource::Recording, _) => Event::RecordingFailed(r),
            (Resource::Livestream, Phase::Starting) => Event::LivestreamStarting(r),
            (Resource::Livestream, Phase::Started) => Event::LivestreamStarted(r),
            (Resource::Livestream, Phase::Stopping) => Event::LivestreamStopping(r),
            (Resource::Livestream, Phase::Stopped) => Event::LivestreamStopped(r),
            (Resource::Livestream, _) => Event::LivestreamFailed(r),
            (Resource::Hls, Phase::Starting) => Event::HlsStarting(r),
            (Resource::Hls, Phase::Started) => {
                // From `hls.started`, or from `hls.playable` when started was skipped.
                let url = details
                    .playback_hls_url
                    .clone()
                    .or_else(|| details.downstream_url.clone())
                    .unwrap_or_default();
                Event::HlsStarted(HlsStarted {
                    meeting_id,
                    session_id,
                    downstream_url: details
                        .downstream_url
                        .clone()
                        .unwrap_or_else(|| url.clone()),
                    playback_hls_url: url,
                })
            }
            (Resource::Hls, Phase::Playable) => Event::HlsPlayable(HlsPlayable {
                meeting_id,
                session_id,
                playback_hls_url: details.playback_hls_url.clone().unwrap_or_default(),
                livestream_url: details.livestream_url.clone(),
            }),
            (Resource::Hls, Phase::Stopping) => Event::HlsStopping(r),
            (Resource::Hls, Phase::Stopped) => Event::HlsStopped(r),
            (Resource::Hls, _) => Event::HlsFailed(r),
            (Resource::ParticipantRecording { participant_id }, phase) => {
                let participant_id = participant_id.clone();
                let recording = |participant_id| ParticipantRecording {
                    meeting_id: meeting_id.clone(),
                    session_id: session_id.clone(),
                    participant_id,
                    file_format: state.file_format.clone().unwrap_or_default(),
                };
                match phase {
                    Phase::Starting => {
                        Event::ParticipantRecordingStarting(recording(participant_id))
                    }
                    Phase::Started | Phase::Playable => {
                        Event::ParticipantRecordingStarted(recording(participant_id))
                    }
                    Phase::Stopping => {
                        Event::ParticipantRecordingStopping(recording(participant_id))
                    }
                    Phase::Stopped => {
                        Event::ParticipantRecordingStopped(ParticipantRecordingStopped {
                            meeting_id,
                            session_id,
                            participant_id,
                            file_details: details.file_details.clone(),
                        })
                    }
                    Phase::Failed => Event::ParticipantRecordingFailed(ParticipantRef {
                        meeting_id,
                        session_id,
                        participant_id,
                    }),
                }
            }
            (
                Resource::ParticipantTrackRecording {
                    participant_id,
                    kind,
                },
                phase,
            ) => {
                let track = ParticipantTrack {
                    meeting_id,
                    session_id,
                    participant_id: participant_id.clone(),
                    kind: kind.clone(),
                };
                match phase {
                    Phase::Starting => Event::ParticipantTrackRecordingStarting(track),
                    Phase::Started | Phase::Playable => {
                        Event::ParticipantTrackRecordingStarted(track)
                    }
                    Phase::Stopping => Event::ParticipantTrackRecordingStopping(track),
                    Phase::Stopped => {
                        Event::ParticipantTrackRecordingStopped(ParticipantTrackStopped {
                            meeting_id: track.meeting_id,
                            session_id: track.session_id,
                            participant_id: track.participant_id,
                            kind: track.kind,
                            file_details: details.file_details.clone(),
                        })
                    }
                    Phase::Failed => Event::ParticipantTrackRecordingFailed(track),
                }
            }
        }
    }
}

/// What later events of the resource need from this signal; the latest given wins.
fn remember(state: &mut MediaState, details: &MediaDetails) {
    let keep = |slot: &mut Option<String>, given: &Option<String>| {
        if given.is_some() {
            slot.clone_from(given);
        }
    };
    keep(&mut state.file_id, &details.file_id);
    keep(&mut state.file_path, &details.file_path);
    keep(&mut state.file_url, &details.file_url);
    keep(&mut state.file_format, &details.file_format);
}
