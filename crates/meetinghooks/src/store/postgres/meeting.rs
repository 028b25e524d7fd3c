//! Applying the engine in a PostgreSQL transaction: lock the meeting's room row, load what a
//! step needs, run it, persist what changed. The row lock serialises a meeting across nodes.

use std::collections::{BTreeSet, HashMap, HashSet};

use deadpool_postgres::Transaction;
use meetinghooks_webhooks::WebhookType;
use tokio_postgres::GenericClient;

use super::delivery::{self, DB_NOW_MS};
use super::error::{corrupt, PgError, PgResult};
use crate::domain::signal::Signal;
use crate::domain::timestamp::Timestamp;
use crate::engine::state::ParticipantState;
use crate::engine::{self, EngineConfig, Meeting, MeetingState, Outcome, SessionEnd};
use crate::outbox::{Advance, FannedOut, Finished, IngestRun, ParticipantKey};
use crate::store::listings::{joined_rooms, refused_join};
use crate::store::panic::contain_async;
use crate::store::{IngestReport, SessionRecord, StoreError};

/// Applies a batch. A panic inside (a broken invariant) fails it with `Internal`, and the
/// transaction is rolled back, instead of dropping the client's connection.
pub async fn ingest(
    tx: &Transaction<'_>,
    engine: &EngineConfig,
    project_id: &str,
    signals: &[Signal],
) -> PgResult<(IngestReport, FannedOut)> {
    contain_async(ingest_batch(tx, engine, project_id, signals)).await
}

async fn ingest_batch(
    tx: &Transaction<'_>,
    engine: &EngineConfig,
    project_id: &str,
    signals: &[Signal],
) -> PgResult<(IngestReport, FannedOut)> {
    // Which signals are new, in one statement for the whole batch. Ids remembered before ids
    // were per meeting (`room_id = ''`) stay duplicates in every meeting.
    let (rooms, ids): (Vec<&str>, Vec<&str>) = signals
        .iter()
        .map(|s| (s.meeting_id.as_str(), s.id.as_str()))
        .unzip();
    let remember = tx
        .prepare_cached(&format!(
            "WITH clock AS MATERIALIZED (SELECT {DB_NOW_MS} AS now)
             INSERT INTO signals (project_id, room_id, signal_id, received_at)
             SELECT $1, s.room_id, s.signal_id, clock.now
             FROM unnest($2::TEXT[], $3::TEXT[]) AS s(room_id, signal_id), clock
             WHERE NOT EXISTS (SELECT 1 FROM signals o WHERE o.project_id = $1
                               AND o.room_id = '' AND o.signal_id = s.signal_id)
             ON CONFLICT DO NOTHING RETURNING room_id, signal_id, received_at"
        ))
        .await?;
    let rows = tx.query(&remember, &[&project_id, &rooms, &ids]).await?;
    // The database's clock, as leases use: every node of a cluster agrees on it.
    let now = rows
        .first()
        .map_or_else(Timestamp::now, |row| Timestamp(row.get(2)));
    let mut remembered: HashSet<(String, String)> =
        rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    // The first of the batch's signals with an id in its meeting is the fresh one.
    let fresh: Vec<bool> = signals
        .iter()
        .map(|s| remembered.remove(&(s.meeting_id.clone(), s.id.clone())))
        .collect();
    let mut run = IngestRun::new(project_id, signals, &fresh, now, *engine);
    for (room, state) in lock_meetings(tx, project_id, &run.rooms(), now).await? {
        run.loaded_meeting(&room, state);
    }
    // Under the rooms' locks: a deactivation commits before or after this whole batch.
    let joined: Vec<&str> = joined_rooms(signals, &fresh).into_iter().collect();
    if !joined.is_empty() {
        let deactivated = tx
            .query(
                "SELECT room_id FROM rooms WHERE project_id = $1 AND room_id = ANY($2) AND disabled",
                &[&project_id, &joined],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if let Some(refused) = refused_join(signals, &fresh, &deactivated) {
            return Err(PgError::Store(refused));
        }
    }
    while let Advance::Need(keys) = run.advance()? {
        run.loaded_participants(load_participants(tx, project_id, &keys).await?);
    }
    let Finished {
        mut report,
        meetings,
    } = run.finish();
    let steps: Vec<Step<'_>> = meetings
        .iter()
        .map(|touched| Step {
            room_id: touched.room_id,
            meeting: &touched.meeting,
            outcomes: &touched.outcomes,
        })
        .collect();
    let fanned = persist(tx, project_id, &steps, now).await?;
    report.messages = fanned.messages;
    Ok((report, fanned))
}

/// Creates the rooms that do not exist yet, then locks them all, in room order so that
/// concurrent batches never deadlock, and loads their meetings' headers.
async fn lock_meetings(
    tx: &Transaction<'_>,
    project_id: &str,
    rooms: &BTreeSet<&str>,
    now: Timestamp,
) -> PgResult<Vec<(String, MeetingState)>> {
    if rooms.is_empty() {
        return Ok(Vec::new());
    }
    let rooms: Vec<&str> = rooms.iter().copied().collect();
    // A signal for an unknown meeting creates its room: the platform decides which meetings
    // exist. Inserted in room order too: a conflicting insert waits for the other one.
    let create = tx
        .prepare_cached(
            "INSERT INTO rooms (project_id, room_id, custom, webhook, state, created_at)
             SELECT $1, room, TRUE, NULL, '{}', $3 FROM unnest($2::TEXT[]) AS room
             ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(&create, &[&project_id, &rooms, &now.0]).await?;
    let lock = tx
        .prepare_cached(
            "SELECT room_id, state FROM rooms WHERE project_id = $1 AND room_id = ANY($2)
             ORDER BY room_id FOR UPDATE",
        )
        .await?;
    tx.query(&lock, &[&project_id, &rooms])
        .await?
        .iter()
        .map(|row| Ok((row.get(0), parse_state(row.get(1))?)))
        .collect()
}

/// Loads the latest record of each (meeting, participant) named, in one statement.
/// The latest record of each participant asked for that exists, with its meeting.
pub(super) async fn load_participants(
    tx: &Transaction<'_>,
    project_id: &str,
    keys: &[ParticipantKey],
) -> PgResult<Vec<(String, ParticipantState)>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let (rooms, ids): (Vec<&str>, Vec<&str>) = keys
        .iter()
        .map(|k| (k.room_id.as_str(), k.participant_id.as_str()))
        .unzip();
    let latest = tx
        .prepare_cached(
            "SELECT DISTINCT ON (p.room_id, p.participant_id) p.room_id, p.doc
             FROM participants p
             JOIN unnest($2::TEXT[], $3::TEXT[]) AS w(room_id, participant_id)
               ON p.room_id = w.room_id AND p.participant_id = w.participant_id
             WHERE p.project_id = $1
             ORDER BY p.room_id, p.participant_id, p.position DESC",
        )
        .await?;
    let mut found = Vec::new();
    for row in tx.query(&latest, &[&project_id, &rooms, &ids]).await? {
        let record: ParticipantState =
            serde_json::from_str(row.get(1)).map_err(|e| corrupt("participant", e))?;
        found.push((row.get(0), record));
    }
    Ok(found)
}

pub async fn end_session(
    tx: &Transaction<'_>,
    project_id: &str,
    room_id: &str,
    end: SessionEnd,
) -> PgResult<SessionRecord> {
    contain_async(end_session_now(tx, project_id, room_id, end)).await
}

async fn end_session_now(
    tx: &Transaction<'_>,
    project_id: &str,
    room_id: &str,
    end: SessionEnd,
) -> PgResult<SessionRecord> {
    let now = end.at;
    let state = lock(tx, project_id, room_id)
        .await?
        .ok_or(StoreError::NotFound("room"))?;
    let mut meeting = Meeting::new(state);
    if let Some(session) = &meeting.state.session {
        for p in session_participants(&**tx, project_id, &session.id).await? {
            meeting.participants.insert(p.id.clone(), p);
        }
    }
    let outcome =
        engine::end_session(&mut meeting, room_id, end).map_err(StoreError::NoOngoingSession)?;
    // A `RoomFinished` end may leave the session closing, waiting for its egresses.
    let session = outcome
        .ended
        .last()
        .or(meeting.state.session.as_ref())
        .cloned()
        .expect("end_session ends or closes the session");
    let step = Step {
        room_id,
        meeting: &meeting,
        outcomes: &[outcome],
    };
    persist(tx, project_id, &[step], now).await?;
    Ok(SessionRecord {
        room_id: room_id.to_owned(),
        participants: session_participants(&**tx, project_id, &session.id).await?,
        session,
    })
}

pub(super) fn parse_state(text: &str) -> PgResult<MeetingState> {
    serde_json::from_str(text).map_err(|e| corrupt("room state", e))
}

/// Locks a meeting's room row for this transaction and reads its state.
async fn lock(
    tx: &Transaction<'_>,
    project_id: &str,
    room_id: &str,
) -> PgResult<Option<MeetingState>> {
    let statement = tx
        .prepare_cached("SELECT state FROM rooms WHERE project_id = $1 AND room_id = $2 FOR UPDATE")
        .await?;
    tx.query_opt(&statement, &[&project_id, &room_id])
        .await?
        .map(|row| parse_state(row.get(0)))
        .transpose()
}

/// A session's participants, in the order they first joined.
pub async fn session_participants(
    client: &impl GenericClient,
    project_id: &str,
    session_id: &str,
) -> PgResult<Vec<ParticipantState>> {
    let rows = client
        .query(
            "SELECT doc FROM participants WHERE project_id = $1 AND session_id = $2
             ORDER BY join_order",
            &[&project_id, &session_id],
        )
        .await?;
    rows.iter()
        .map(|row| serde_json::from_str(row.get(0)).map_err(|e| corrupt("participant", e)))
        .collect()
}

/// Rows for one upsert statement, as sequential upserts would leave them: a key written twice
/// keeps its first place (its position) and its last value.
struct FirstPlaceLastValue<K, V> {
    rows: Vec<(K, V)>,
    places: HashMap<K, usize>,
}

impl<K, V> Default for FirstPlaceLastValue<K, V> {
    fn default() -> Self {
        FirstPlaceLastValue {
            rows: Vec::new(),
            places: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Copy, V> FirstPlaceLastValue<K, V> {
    fn write(&mut self, key: K, value: V) {
        match self.places.get(&key) {
            Some(&place) => self.rows[place].1 = value,
            None => {
                self.places.insert(key, self.rows.len());
                self.rows.push((key, value));
            }
        }
    }
}

/// One meeting's engine steps in this transaction, ready to be written.
pub(super) struct Step<'a> {
    pub room_id: &'a str,
    pub meeting: &'a Meeting,
    pub outcomes: &'a [Outcome],
}

/// Writes each meeting's header, its changed participants, its events and session rows, and
/// fans the events out into messages: one statement per table for the whole batch. Returns
/// what fan-out created.
pub(super) async fn persist(
    tx: &Transaction<'_>,
    project_id: &str,
    steps: &[Step<'_>],
    now: Timestamp,
) -> PgResult<FannedOut> {
    if steps.is_empty() {
        return Ok(FannedOut::default());
    }
    let (rooms, states, timers): (Vec<&str>, Vec<String>, Vec<Option<i64>>) = steps
        .iter()
        .map(|step| {
            let state = &step.meeting.state;
            (
                step.room_id,
                serde_json::to_string(state).expect("state serializes"),
                state.next_deadline().map(|t| t.0),
            )
        })
        .collect();
    let update_rooms = tx
        .prepare_cached(
            "UPDATE rooms r SET state = u.state, next_timer_at = u.next_timer_at
             FROM unnest($2::TEXT[], $3::TEXT[], $4::INT8[]) AS u(room_id, state, next_timer_at)
             WHERE r.project_id = $1 AND r.room_id = u.room_id",
        )
        .await?;
    tx.execute(&update_rooms, &[&project_id, &rooms, &states, &timers])
        .await?;

    // In write order: retired records first, so a participant's old session keeps its closed
    // timelog and the current record gets the higher position (the "latest" one). A key
    // written twice keeps its first place and its last document, as sequential upserts would.
    let mut participants = FirstPlaceLastValue::default();
    for step in steps {
        let changed = step
            .meeting
            .changed
            .iter()
            .map(|id| &step.meeting.participants[id]);
        for p in step.meeting.retired.iter().chain(changed) {
            participants.write((step.room_id, p.id.as_str(), p.session_id.as_str()), p);
        }
    }
    if !participants.rows.is_empty() {
        let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ((room, id, session), p) in participants.rows {
            columns.0.push(room);
            columns.1.push(id);
            columns.2.push(session);
            columns.3.push(p.order as i64);
            columns
                .4
                .push(serde_json::to_string(p).expect("participant serializes"));
        }
        let upsert = tx
            .prepare_cached(
                "INSERT INTO participants (project_id, room_id, participant_id, session_id, join_order, doc)
                 SELECT $1, * FROM unnest($2::TEXT[], $3::TEXT[], $4::TEXT[], $5::INT8[], $6::TEXT[])
                 ON CONFLICT (project_id, room_id, participant_id, session_id)
                 DO UPDATE SET doc = excluded.doc, join_order = excluded.join_order",
            )
            .await?;
        tx.execute(
            &upsert,
            &[
                &project_id,
                &columns.0,
                &columns.1,
                &columns.2,
                &columns.3,
                &columns.4,
            ],
        )
        .await?;
    }

    let mut events = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut types = Vec::new();
    // Session rows in the order the sessions appeared (their position orders the listing).
    let mut sessions = FirstPlaceLastValue::default();
    for step in steps {
        let mut started = false;
        for outcome in step.outcomes {
            for emitted in &outcome.events {
                let webhook_type = emitted.event.webhook_type();
                started |= webhook_type == WebhookType::SessionStarted;
                events.0.push(step.room_id);
                events.1.push(emitted.session_id.as_str());
                events.2.push(emitted.sequence as i64);
                events.3.push(webhook_type.as_str());
                events.4.push(emitted.event.to_json_bytes());
                types.push(webhook_type);
            }
            for ended in &outcome.ended {
                let doc = serde_json::to_string(ended).expect("session serializes");
                sessions.write(ended.id.as_str(), (step.room_id, doc));
            }
        }
        // The session row of an ongoing session is written once, when it starts.
        if let Some(ongoing) = step.meeting.state.session.as_ref().filter(|_| started) {
            let doc = serde_json::to_string(ongoing).expect("session serializes");
            sessions.write(ongoing.id.as_str(), (step.room_id, doc));
        }
    }
    if !sessions.rows.is_empty() {
        let mut columns = (Vec::new(), Vec::new(), Vec::new());
        for (id, (room, doc)) in sessions.rows {
            columns.0.push(id);
            columns.1.push(room);
            columns.2.push(doc);
        }
        let (ids, session_rooms, docs) = columns;
        let upsert = tx
            .prepare_cached(
                "INSERT INTO sessions (project_id, session_id, room_id, doc)
                 SELECT $1, * FROM unnest($2::TEXT[], $3::TEXT[], $4::TEXT[])
                 ON CONFLICT (project_id, session_id) DO UPDATE SET doc = excluded.doc",
            )
            .await?;
        tx.execute(&upsert, &[&project_id, &ids, &session_rooms, &docs])
            .await?;
    }
    if events.0.is_empty() {
        return Ok(FannedOut::default());
    }
    // Positions follow the arrays' order, in which each meeting's sequences ascend: that is
    // the order its messages are promoted in.
    let insert_events = tx
        .prepare_cached(
            "INSERT INTO events (project_id, room_id, session_id, sequence, webhook_type, payload, created_at)
             SELECT $1, room_id, session_id, sequence, webhook_type, payload, $7
             FROM unnest($2::TEXT[], $3::TEXT[], $4::INT8[], $5::TEXT[], $6::BYTEA[])
               AS e(room_id, session_id, sequence, webhook_type, payload)
             RETURNING room_id, sequence, position",
        )
        .await?;
    let positions: HashMap<(String, i64), i64> = tx
        .query(
            &insert_events,
            &[
                &project_id,
                &events.0,
                &events.1,
                &events.2,
                &events.3,
                &events.4,
                &now.0,
            ],
        )
        .await?
        .iter()
        .map(|row| ((row.get(0), row.get(1)), row.get(2)))
        .collect();
    let fanned: Vec<crate::outbox::NewEvent<'_>> = (0..events.0.len())
        .map(|i| crate::outbox::NewEvent {
            room_id: events.0[i],
            position: positions[&(events.0[i].to_owned(), events.2[i])],
            webhook_type: types[i],
        })
        .collect();
    let mut rooms: Vec<&str> = fanned.iter().map(|e| e.room_id).collect();
    rooms.sort_unstable();
    rooms.dedup();
    let targets = delivery::targets(tx, project_id, &rooms).await?;
    delivery::fan_out(tx, &targets, project_id, &fanned, now).await
}
