//! The session engine: turns signals and the passing of time into catalog events. Pure: no I/O, no clock.
//!
//! The store loads a [`Meeting`] (the header and the participant records the step needs),
//! calls [`apply`], [`tick`] or [`end_session`], and persists the events, the header and the
//! changed participant records in one transaction.

mod closing;
#[cfg(test)]
mod closing_tests;
pub mod media;
#[cfg(test)]
mod media_proptests;
#[cfg(test)]
mod media_tests;
#[cfg(test)]
mod proptests;
pub mod state;

use meetinghooks_webhooks::{Event, MeetingRef, ParticipantData, SessionEnded, SessionStarted};

use crate::domain::ids::derived_hex24;
use crate::domain::media::Resource;
use crate::domain::signal::{LeaveReason, Signal, SignalKind};
use crate::domain::timestamp::Timestamp;
use state::{ClosingCause, Grace, ParticipantState, Stay};
pub use state::{Meeting, MeetingState, SessionState};

pub use closing::{EndKind, SessionEnd, TRACKED_MEDIA_WAIT_MS};

#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// How long a `disconnected` participant may take to rejoin silently.
    pub reconnect_grace_ms: i64,
}

/// One event the engine emitted, with its per-meeting sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    pub sequence: u64,
    pub session_id: String,
    pub event: Event,
}

/// What applying one input produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub events: Vec<Emitted>,
    /// Sessions that ended, in their final form.
    pub ended: Vec<SessionState>,
    /// The signal was older than the last one applied for its participant or media kind,
    /// or would open media in a session that is closing.
    pub stale: bool,
}

/// Why an input cannot be applied in the meeting's current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("meeting {0} has no ongoing session")]
    NoOngoingSession(String),
    /// A media server's end dated before the ongoing session began: a late retry from an
    /// earlier life of the room, which must not end this one.
    #[error("session {session_id} of meeting {meeting_id} started after this end")]
    EndedBeforeSession {
        meeting_id: String,
        session_id: String,
    },
}

/// Applies one (already deduplicated) signal to its meeting in `project_id`; `now` is when it
/// was received.
pub fn apply(
    meeting: &mut Meeting,
    project_id: &str,
    signal: &Signal,
    now: Timestamp,
    config: &EngineConfig,
) -> Result<Outcome, Conflict> {
    let mut run = Run::new(meeting, &signal.meeting_id, now);
    run.project_id = project_id;
    // Graces that expired before this signal happened fire first, so their effect precedes it.
    run.expire_graces(|deadline| deadline < signal.at);
    run.expire_closing(|deadline| deadline < signal.at);

    let at = signal.at;
    // Signals about the same participant, or the same media resource, are ordered by `at`.
    let stale = match &signal.kind {
        SignalKind::ParticipantJoined {
            participant_id: id, ..
        }
        | SignalKind::ParticipantLeft {
            participant_id: id, ..
        } => {
            // A join reordered after its room's explicit end must not open a ghost session.
            let ended = matches!(signal.kind, SignalKind::ParticipantJoined { .. })
                && run.meeting.state.ended_at.is_some_and(|end| at < end);
            let participant = run.participant(id);
            let stale = ended || participant.last_at.is_some_and(|last| at < last);
            if !stale {
                participant.last_at = Some(at);
            }
            stale
        }
        SignalKind::Media(media) => {
            if run.meeting.state.session.is_none() {
                return Err(Conflict::NoOngoingSession(signal.meeting_id.clone()));
            }
            let key = media.key();
            let session = run.meeting.state.session.as_ref();
            // Per-participant and per-lifecycle clocks are forgotten when a session ends, so
            // one dated before the last session ended (or, per participant, before the
            // ongoing one began) is taken for a late signal of an earlier session.
            let floor = run.meeting.state.participant_media_floor;
            let before_start = media.lifecycle.is_none() && session.is_some_and(|s| at < s.start);
            let earlier_session = Resource::is_session_scoped_key(&key)
                && (before_start || floor.is_some_and(|f| at < f));
            // A closing session only lets its live tracked media end; nothing opens in it.
            let closed = session.is_some_and(|s| {
                s.closing.is_some()
                    && !s
                        .media
                        .iter()
                        .any(|m| m.lifecycle.is_some() && m.key() == key)
            });
            let last_at = &mut run.meeting.state.last_at;
            let stale = earlier_session || last_at.get(&key).is_some_and(|last| at < *last);
            if !stale {
                // One a closing session swallows still counts, just after its time: a start
                // reordered after it, or its own replay in a later session, is stale.
                last_at.insert(key, if closed { at.plus_millis(1) } else { at });
            }
            stale || closed
        }
    };
    if stale {
        run.outcome.stale = true;
        return Ok(run.outcome);
    }
    if let Some(session) = run.meeting.state.session.as_mut() {
        // A closing session's end is already decided.
        if session.closing.is_none() {
            session.latest = session.latest.max(at);
        }
    }

    match &signal.kind {
        SignalKind::ParticipantJoined {
            participant_id,
            participant_name,
        } => run.join(participant_id, participant_name, at, &signal.id),
        SignalKind::ParticipantLeft {
            participant_id,
            reason,
        } => match reason {
            LeaveReason::Disconnected if config.reconnect_grace_ms > 0 => {
                let deadline = at.max(now).plus_millis(config.reconnect_grace_ms);
                run.disconnect(participant_id, at, deadline)
            }
            _ => run.leave(participant_id, at),
        },
        SignalKind::Media(media) => {
            run.apply_media(media, &signal.id);
            run.end_if_closed();
        }
    }
    Ok(run.outcome)
}

/// Fires every reconnect grace whose deadline is at or before `now`.
pub fn tick(meeting: &mut Meeting, meeting_id: &str, now: Timestamp) -> Outcome {
    let mut run = Run::new(meeting, meeting_id, now);
    run.expire_graces(|deadline| deadline <= now);
    run.expire_closing(|deadline| deadline <= now);
    run.outcome
}

/// Ends the ongoing session on request: everyone is removed, then the session ends (for
/// `RoomFinished`, once its live egresses have ended; see [`Closing`]).
/// `meeting` must hold every participant record of the ongoing session.
pub fn end_session(
    meeting: &mut Meeting,
    meeting_id: &str,
    end: SessionEnd,
) -> Result<Outcome, Conflict> {
    let mut run = Run::new(meeting, meeting_id, end.at.max(end.received));
    let Some(session) = run.meeting.state.session.as_mut() else {
        return Err(Conflict::NoOngoingSession(meeting_id.to_owned()));
    };
    // Judged here, inside the store's transaction, so two nodes cannot race it.
    if end.kind == EndKind::RoomFinished && end.at < session.start {
        return Err(Conflict::EndedBeforeSession {
            meeting_id: meeting_id.to_owned(),
            session_id: session.id.clone(),
        });
    }
    let at = session.latest.max(end.at);
    // A closing session's end is already decided: when it emptied.
    let closing = session.closing;
    if closing.is_none() {
        session.latest = at;
    }
    // A join dated before this end belonged to the ended session: reordered after it, it is
    // stale rather than the start of a session nobody will end.
    run.meeting.state.ended_at = Some(at);
    let session_id = session.id.clone();
    let mut present: Vec<(u64, String)> = run
        .meeting
        .participants
        .values()
        .filter(|p| p.is_present_in(&session_id))
        .map(|p| (p.order, p.id.clone()))
        .collect();
    present.sort();
    for (_, participant_id) in present {
        run.close_stay(&participant_id, at);
    }
    match end.kind {
        EndKind::Now => run.finish_session(closing.map_or(at, |c| c.at)),
        EndKind::RoomFinished => run.close_or_wait(at, ClosingCause::Finished),
    }
    Ok(run.outcome)
}

/// One engine step over one meeting: the state being changed and what it has emitted so far.
struct Run<'a> {
    meeting: &'a mut Meeting,
    meeting_id: &'a str,
    /// Part of the ids this step derives, so two projects' meetings never share one; empty
    /// for timer steps, which derive none.
    project_id: &'a str,
    /// When the step runs (received, ticked or ended at); closing deadlines count from it.
    now: Timestamp,
    outcome: Outcome,
}

impl<'a> Run<'a> {
    fn new(meeting: &'a mut Meeting, meeting_id: &'a str, now: Timestamp) -> Self {
        if let Some(session) = meeting.state.session.as_mut() {
            session.adopt_legacy_media();
        }
        Run {
            meeting,
            meeting_id,
            project_id: "",
            now,
            outcome: Outcome::default(),
        }
    }

    /// The ongoing session; callers have checked that there is one.
    fn session(&mut self) -> &mut SessionState {
        self.meeting
            .state
            .session
            .as_mut()
            .expect("caller checked the session")
    }

    /// A participant's record, created if new; it will be written back.
    fn participant(&mut self, id: &str) -> &mut ParticipantState {
        self.meeting.changed.insert(id.to_owned());
        self.meeting
            .participants
            .entry(id.to_owned())
            .or_insert_with(|| ParticipantState {
                id: id.to_owned(),
                ..ParticipantState::default()
            })
    }

    fn is_present(&self, id: &str) -> bool {
        match (
            &self.meeting.state.session,
            self.meeting.participants.get(id),
        ) {
            (Some(session), Some(p)) => p.is_present_in(&session.id),
            _ => false,
        }
    }

    fn emit(&mut self, event: Event) {
        self.meeting.state.sequence += 1;
        self.outcome.events.push(Emitted {
            sequence: self.meeting.state.sequence,
            session_id: event.session_id().to_owned(),
            event,
        });
    }

    fn meeting_ref(&mut self) -> MeetingRef {
        MeetingRef {
            meeting_id: self.meeting_id.to_owned(),
            session_id: self.session().id.clone(),
        }
    }

    fn participant_data(
        &mut self,
        participant_id: &str,
        participant_name: &str,
    ) -> ParticipantData {
        ParticipantData {
            meeting_id: self.meeting_id.to_owned(),
            session_id: self.session().id.clone(),
            participant_id: participant_id.to_owned(),
            participant_name: participant_name.to_owned(),
        }
    }

    fn join(
        &mut self,
        participant_id: &str,
        participant_name: &str,
        at: Timestamp,
        signal_id: &str,
    ) {
        let closing = self.meeting.state.session.as_ref().and_then(|s| s.closing);
        match closing.map(|c| c.cause) {
            // Back into the session its egress kept recording.
            Some(ClosingCause::Emptied) => self.session().closing = None,
            // The room ended: this join is a new life of it.
            Some(ClosingCause::Finished) => self.finish_closing(),
            None => {}
        }
        if self.meeting.state.session.is_none() {
            let sequence = self.meeting.state.sequence + 1;
            let id = derived_hex24(&[
                self.project_id,
                self.meeting_id,
                signal_id,
                &sequence.to_string(),
            ]);
            self.meeting.state.session = Some(SessionState {
                id: id.clone(),
                start: at,
                latest: at,
                end: None,
                present: 0,
                joined: 0,
                graces: Default::default(),
                media: Vec::new(),
                closing: None,
                recording: None,
                livestream: false,
                hls: None,
            });
            self.emit(Event::SessionStarted(SessionStarted {
                session_id: id,
                meeting_id: self.meeting_id.to_owned(),
                start: at.to_rfc3339(),
            }));
        }
        if self.is_present(participant_id) {
            // Already here; a rejoin inside the reconnect grace cancels it silently.
            self.session().graces.remove(participant_id);
            return;
        }
        let session = self.session();
        let (session_id, start, order) =
            (session.id.clone(), at.max(session.start), session.joined);
        session.present += 1;
        let p = self.participant(participant_id);
        if p.session_id != session_id {
            // First stay in this session; the record of the last one is final now.
            if !p.session_id.is_empty() {
                let finished = p.clone();
                self.meeting.retired.push(finished);
            }
            let p = self.participant(participant_id);
            p.session_id = session_id;
            p.order = order;
            p.timelog.clear();
            self.session().joined += 1;
        }
        let p = self.participant(participant_id);
        p.name = participant_name.to_owned();
        p.timelog.push(Stay { start, end: None });
        let data = self.participant_data(participant_id, participant_name);
        self.emit(Event::ParticipantJoined(data));
    }

    fn disconnect(&mut self, participant_id: &str, at: Timestamp, deadline: Timestamp) {
        if self.is_present(participant_id) {
            self.session()
                .graces
                .entry(participant_id.to_owned())
                .or_insert(Grace {
                    disconnected_at: at,
                    deadline,
                });
        }
    }

    fn leave(&mut self, participant_id: &str, at: Timestamp) {
        if self.is_present(participant_id) {
            self.close_stay(participant_id, at);
            self.end_if_empty(at);
        }
    }

    /// Closes a present participant's stay and emits `participant-left`.
    fn close_stay(&mut self, participant_id: &str, at: Timestamp) {
        let session = self.session();
        session.graces.remove(participant_id);
        session.present = session.present.saturating_sub(1);
        let p = self.participant(participant_id);
        if let Some(stay) = p.timelog.last_mut() {
            stay.end = Some(at.max(stay.start));
        }
        let name = p.name.clone();
        let data = self.participant_data(participant_id, &name);
        self.emit(Event::ParticipantLeft(data));
    }

    fn end_if_empty(&mut self, at: Timestamp) {
        if self
            .meeting
            .state
            .session
            .as_ref()
            .is_some_and(|s| s.present == 0 && s.closing.is_none())
        {
            self.close_or_wait(at, ClosingCause::Emptied);
        }
    }

    /// Closes live media, then emits `session-ended` and retires the session.
    fn finish_session(&mut self, at: Timestamp) {
        let end = self.session().latest.max(at);
        self.close_media(end, media::Closes::All);
        // Per-participant and per-lifecycle media clocks last only as long as their
        // session; the floor stands in for all of them.
        let state = &mut self.meeting.state;
        // An egress may report after the session's end (while it closed): the floor covers
        // those times too.
        let mut floor = end.plus_millis(1);
        state.last_at.retain(|key, last| {
            let scoped = Resource::is_session_scoped_key(key);
            if scoped {
                floor = floor.max(last.plus_millis(1));
            }
            !scoped
        });
        state.participant_media_floor = Some(
            state
                .participant_media_floor
                .map_or(floor, |f| f.max(floor)),
        );
        let mut session = self
            .meeting
            .state
            .session
            .take()
            .expect("caller checked the session");
        let end = session.latest.max(at);
        session.end = Some(end);
        self.meeting.state.sequence += 1;
        self.outcome.events.push(Emitted {
            sequence: self.meeting.state.sequence,
            session_id: session.id.clone(),
            event: Event::SessionEnded(SessionEnded {
                session_id: session.id.clone(),
                meeting_id: self.meeting_id.to_owned(),
                start: session.start.to_rfc3339(),
                end: end.to_rfc3339(),
            }),
        });
        self.outcome.ended.push(session);
    }

    /// Emits `participant-left` for every grace that `expired` selects, in deadline order.
    fn expire_graces(&mut self, expired: impl Fn(Timestamp) -> bool) {
        loop {
            let Some(session) = self.meeting.state.session.as_ref() else {
                return;
            };
            let next = session
                .graces
                .iter()
                .filter(|(_, g)| expired(g.deadline))
                .min_by_key(|(id, g)| (g.deadline, *id))
                .map(|(id, g)| (id.clone(), *g));
            let Some((participant_id, grace)) = next else {
                return;
            };
            // The participant really left when they disconnected.
            self.close_stay(&participant_id, grace.disconnected_at);
            self.end_if_empty(grace.disconnected_at);
        }
    }
}
