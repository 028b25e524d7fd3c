//! The ingest use case, written once: which signals of a batch count, which participant
//! records each step needs loaded, the engine run, and the report. The store remembers the
//! signal ids, creates and loads the meetings, answers each [`Advance::Need`], then persists
//! what [`IngestRun::finish`] hands back, in first-touch order.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::domain::signal::Signal;
use crate::domain::timestamp::Timestamp;
use crate::engine::state::ParticipantState;
use crate::engine::{self, EngineConfig, Meeting, MeetingState, Outcome};
use crate::store::{IngestReport, StoreError};

/// A participant record of a meeting.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantKey {
    pub room_id: String,
    pub participant_id: String,
}

/// What the run needs next.
#[derive(Debug, PartialEq, Eq)]
pub enum Advance {
    /// Load these records (the latest of each that exists) and call
    /// [`IngestRun::loaded_participants`]; the first is the preload of the whole batch.
    Need(Vec<ParticipantKey>),
    Done,
}

/// A meeting the batch changed, with the engine's outcomes in order.
pub struct Touched<'s> {
    pub room_id: &'s str,
    pub meeting: Meeting,
    pub outcomes: Vec<Outcome>,
}

pub struct Finished<'s> {
    pub report: IngestReport,
    /// In the order the batch first touched them.
    pub meetings: Vec<Touched<'s>>,
}

/// One batch being applied.
pub struct IngestRun<'s> {
    project_id: &'s str,
    /// The fresh signals, with their index in the batch.
    accepted: Vec<(usize, &'s Signal)>,
    rooms: BTreeSet<&'s str>,
    next: usize,
    preloaded: bool,
    now: Timestamp,
    engine: EngineConfig,
    meetings: HashMap<&'s str, Meeting>,
    outcomes: HashMap<&'s str, Vec<Outcome>>,
    order: Vec<&'s str>,
    looked_up: HashSet<ParticipantKey>,
    report: IngestReport,
}

impl<'s> IngestRun<'s> {
    /// `fresh[i]`: signal `i`'s id was not seen in its meeting before (the store remembered it).
    pub fn new(
        project_id: &'s str,
        signals: &'s [Signal],
        fresh: &[bool],
        now: Timestamp,
        engine: EngineConfig,
    ) -> Self {
        let accepted: Vec<(usize, &Signal)> = signals
            .iter()
            .enumerate()
            .filter(|(index, _)| fresh.get(*index).copied().unwrap_or(false))
            .collect();
        let report = IngestReport {
            accepted: accepted.len(),
            duplicates: signals.len() - accepted.len(),
            ..IngestReport::default()
        };
        IngestRun {
            project_id,
            rooms: accepted
                .iter()
                .map(|(_, s)| s.meeting_id.as_str())
                .collect(),
            accepted,
            next: 0,
            preloaded: false,
            now,
            engine,
            meetings: HashMap::new(),
            outcomes: HashMap::new(),
            order: Vec::new(),
            looked_up: HashSet::new(),
            report,
        }
    }

    /// The meetings to create if unknown (a signal creates its room), lock and load, sorted.
    pub fn rooms(&self) -> BTreeSet<&'s str> {
        self.rooms.clone()
    }

    /// A meeting's header as stored (`MeetingState::default()` for one just created).
    pub fn loaded_meeting(&mut self, room_id: &str, state: MeetingState) {
        if let Some(room) = self.rooms.get(room_id).copied() {
            self.meetings.insert(room, Meeting::new(state));
        }
    }

    /// The records found for a [`Advance::Need`]; one already in memory stays as it is.
    pub fn loaded_participants(&mut self, records: Vec<(String, ParticipantState)>) {
        for (room_id, record) in records {
            if let Some(meeting) = self.meetings.get_mut(room_id.as_str()) {
                meeting
                    .participants
                    .entry(record.id.clone())
                    .or_insert(record);
            }
        }
    }

    /// What `signal`'s step needs that was neither loaded nor looked up.
    fn missing(&self, signal: &Signal) -> Vec<ParticipantKey> {
        let room = signal.meeting_id.as_str();
        let Some(meeting) = self.meetings.get(room) else {
            return Vec::new();
        };
        meeting
            .needs(signal.kind.participant_id())
            .filter(|id| !meeting.participants.contains_key(*id))
            .map(|id| ParticipantKey {
                room_id: room.to_owned(),
                participant_id: id.to_owned(),
            })
            .filter(|key| !self.looked_up.contains(key))
            .collect()
    }

    /// Applies signals until one needs records not loaded yet, or the batch is done. A
    /// conflict fails the whole batch with its index.
    pub fn advance(&mut self) -> Result<Advance, StoreError> {
        if !self.preloaded {
            self.preloaded = true;
            let wanted: BTreeSet<ParticipantKey> = self
                .accepted
                .iter()
                .flat_map(|(_, signal)| self.missing(signal))
                .collect();
            if !wanted.is_empty() {
                self.looked_up.extend(wanted.iter().cloned());
                return Ok(Advance::Need(wanted.into_iter().collect()));
            }
        }
        while let Some(&(index, signal)) = self.accepted.get(self.next) {
            // Rarely, a step needs a record the preload could not foresee.
            let missing = self.missing(signal);
            if !missing.is_empty() {
                self.looked_up.extend(missing.iter().cloned());
                return Ok(Advance::Need(missing));
            }
            let room = signal.meeting_id.as_str();
            let meeting = self
                .meetings
                .get_mut(room)
                .ok_or_else(|| StoreError::Internal(format!("meeting {room:?} not loaded")))?;
            let outcome = engine::apply(meeting, self.project_id, signal, self.now, &self.engine)
                .map_err(|conflict| StoreError::Conflict { index, conflict })?;
            self.report.stale += usize::from(outcome.stale);
            self.report.events += outcome.events.len();
            if !self.outcomes.contains_key(room) {
                self.order.push(room);
            }
            self.outcomes.entry(room).or_default().push(outcome);
            self.next += 1;
        }
        Ok(Advance::Done)
    }

    /// The report (without `messages`, which fan-out counts) and the meetings to persist.
    pub fn finish(mut self) -> Finished<'s> {
        let meetings = self
            .order
            .iter()
            .map(|room| Touched {
                room_id: room,
                meeting: self
                    .meetings
                    .remove(room)
                    .expect("touched meetings are loaded"),
                outcomes: self.outcomes.remove(room).unwrap_or_default(),
            })
            .collect();
        Finished {
            report: self.report,
            meetings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::media::{MediaSignal, Phase};
    use crate::domain::signal::SignalKind;

    const ENGINE: EngineConfig = EngineConfig {
        reconnect_grace_ms: 1_000,
    };

    fn signal(id: &str, room: &str, at: i64, kind: SignalKind) -> Signal {
        Signal {
            id: id.into(),
            meeting_id: room.into(),
            at: Timestamp(at),
            kind,
        }
    }

    fn join(participant: &str) -> SignalKind {
        SignalKind::ParticipantJoined {
            participant_id: participant.into(),
            participant_name: participant.to_uppercase(),
        }
    }

    fn key(room_id: &str, participant_id: &str) -> ParticipantKey {
        ParticipantKey {
            room_id: room_id.into(),
            participant_id: participant_id.into(),
        }
    }

    #[test]
    fn duplicates_are_counted_and_the_batch_preloads_once() {
        let signals = [
            signal("1", "b", 1, join("p")),
            signal("1", "a", 1, join("q")),
            signal("2", "b", 2, join("r")),
            signal("3", "b", 3, join("p")),
        ];
        let mut run = IngestRun::new(
            "project",
            &signals,
            &[true, false, true, true],
            Timestamp(10),
            ENGINE,
        );
        assert_eq!(run.rooms(), BTreeSet::from(["b"]));
        run.loaded_meeting("b", MeetingState::default());
        assert_eq!(
            run.advance().unwrap(),
            Advance::Need(vec![key("b", "p"), key("b", "r")])
        );
        run.loaded_participants(Vec::new());
        // What the preload asked for is not asked again, found or not.
        assert_eq!(run.advance().unwrap(), Advance::Done);
        let done = run.finish();
        assert_eq!((done.report.accepted, done.report.duplicates), (3, 1));
        assert!(done.report.events > 0);
        assert_eq!(done.meetings.len(), 1);
        assert_eq!(done.meetings[0].outcomes.len(), 3);
    }

    #[test]
    fn meetings_come_back_in_first_touch_order() {
        let signals = [
            signal("1", "z", 1, join("p")),
            signal("2", "a", 1, join("p")),
        ];
        let mut run = IngestRun::new("project", &signals, &[true, true], Timestamp(10), ENGINE);
        for room in run.rooms() {
            run.loaded_meeting(room, MeetingState::default());
        }
        assert!(matches!(run.advance().unwrap(), Advance::Need(_)));
        assert_eq!(run.advance().unwrap(), Advance::Done);
        let rooms: Vec<&str> = run.finish().meetings.iter().map(|m| m.room_id).collect();
        assert_eq!(rooms, ["z", "a"]);
    }

    #[test]
    fn a_conflict_fails_the_batch_with_its_index() {
        let signals = [
            signal("1", "a", 1, join("p")),
            signal(
                "2",
                "b",
                1,
                SignalKind::Media(MediaSignal::recording(Phase::Started, None)),
            ),
        ];
        let mut run = IngestRun::new("project", &signals, &[true, true], Timestamp(10), ENGINE);
        for room in run.rooms() {
            run.loaded_meeting(room, MeetingState::default());
        }
        let _preload = run.advance().unwrap();
        match run.advance() {
            Err(StoreError::Conflict { index, .. }) => assert_eq!(index, 1),
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
}
