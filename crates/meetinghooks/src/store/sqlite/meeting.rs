//! Applying the engine inside the writer's transaction: load what a step needs (the meeting
//! header and a few participant rows), run it, and persist what changed.

use rusqlite::{params, Connection, OptionalExtension};

use super::delivery;
use crate::domain::signal::Signal;
use crate::domain::timestamp::Timestamp;
use crate::engine::state::ParticipantState;
use crate::engine::{self, EngineConfig, Meeting, MeetingState, Outcome, SessionEnd};
use crate::outbox::{Advance, FannedOut, Finished, IngestRun, NewEvent, ParticipantKey};
use crate::store::listings::{joined_rooms, refused_join};
use crate::store::panic::contain;
use crate::store::{IngestReport, SessionRecord, StoreError, StoreResult};

/// Remembers a signal id in its meeting, unless it was seen there, or before ids were per
/// meeting (`room_id = ''`: those stay duplicates in every meeting).
const REMEMBER: &str = "INSERT OR IGNORE INTO signals (project_id, room_id, signal_id, received_at)
     SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS
       (SELECT 1 FROM signals WHERE project_id = ?1 AND room_id = '' AND signal_id = ?3)";

/// Runs the batch as [`IngestRun`] says: remember the ids, load each meeting (creating an
/// unknown one), answer each `Need`, then persist the touched meetings and fan out.
pub fn ingest(
    conn: &Connection,
    engine: &EngineConfig,
    project_id: &str,
    signals: &[Signal],
) -> StoreResult<(IngestReport, FannedOut)> {
    let now = Timestamp::now();
    let mut remember = conn.prepare_cached(REMEMBER)?;
    let mut fresh = Vec::with_capacity(signals.len());
    for signal in signals {
        let new = remember.execute(params![project_id, signal.meeting_id, signal.id, now.0])?;
        fresh.push(new > 0);
    }
    refuse_deactivated(conn, project_id, signals, &fresh)?;
    let mut run = IngestRun::new(project_id, signals, &fresh, now, *engine);
    for room in run.rooms() {
        run.loaded_meeting(room, load_or_create(conn, project_id, room, now)?);
    }
    while let Advance::Need(keys) = run.advance()? {
        run.loaded_participants(load_participants(conn, project_id, &keys)?);
    }
    let Finished {
        mut report,
        meetings,
    } = run.finish();
    let targets = delivery::targets(conn, project_id, meetings.iter().map(|m| m.room_id))?;
    let mut fanned = FannedOut::default();
    for touched in &meetings {
        fanned.add(persist(
            conn,
            &targets,
            project_id,
            touched.room_id,
            &touched.meeting,
            &touched.outcomes,
            now,
        )?);
    }
    report.messages += fanned.messages;
    Ok((report, fanned))
}

pub fn end_session(
    conn: &Connection,
    project_id: &str,
    room_id: &str,
    end: SessionEnd,
) -> StoreResult<SessionRecord> {
    let now = end.at;
    let state = load(conn, project_id, room_id)?.ok_or(StoreError::NotFound("room"))?;
    let mut meeting = Meeting::new(state);
    if let Some(session) = &meeting.state.session {
        for p in session_participants(conn, project_id, &session.id)? {
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
    persist_step(conn, project_id, room_id, &meeting, outcome, now)?;
    Ok(SessionRecord {
        room_id: room_id.to_owned(),
        participants: session_participants(conn, project_id, &session.id)?,
        session,
    })
}

pub fn fire_due_timers(conn: &Connection, now: Timestamp, batch: usize) -> StoreResult<usize> {
    let due: Vec<(String, String)> = conn
        .prepare_cached(
            "SELECT project_id, room_id FROM rooms WHERE next_timer_at <= ?1
             ORDER BY next_timer_at LIMIT ?2",
        )?
        .query_map(params![now.0, batch as i64], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut emitted = 0;
    for (project_id, room_id) in due {
        // Each room in its own savepoint: one broken room must not hold back every timer.
        conn.prepare_cached("SAVEPOINT timer")?.execute([])?;
        match contain(|| fire_room(conn, &project_id, &room_id, now)) {
            Ok(count) => emitted += count,
            Err(e) => {
                tracing::error!(project_id, room_id, error = %e, "reconnect timer failed; disarmed");
                conn.prepare_cached("ROLLBACK TO timer")?.execute([])?;
                conn.prepare_cached(
                    "UPDATE rooms SET next_timer_at = NULL WHERE project_id = ?1 AND room_id = ?2",
                )?
                .execute(params![project_id, room_id])?;
            }
        }
        conn.prepare_cached("RELEASE timer")?.execute([])?;
    }
    Ok(emitted)
}

fn fire_room(
    conn: &Connection,
    project_id: &str,
    room_id: &str,
    now: Timestamp,
) -> StoreResult<usize> {
    let Some(state) = load(conn, project_id, room_id)? else {
        return Ok(0);
    };
    let mut meeting = Meeting::new(state);
    let needed: Vec<ParticipantKey> = meeting
        .needs(None)
        .map(|id| ParticipantKey {
            room_id: room_id.to_owned(),
            participant_id: id.to_owned(),
        })
        .collect();
    for (_, record) in load_participants(conn, project_id, &needed)? {
        meeting.participants.insert(record.id.clone(), record);
    }
    let outcome = engine::tick(&mut meeting, room_id, now);
    let emitted = outcome.events.len();
    persist_step(conn, project_id, room_id, &meeting, outcome, now)?;
    Ok(emitted)
}

/// Persists a single engine step, fanning out to the project's current endpoints.
fn persist_step(
    conn: &Connection,
    project_id: &str,
    room_id: &str,
    meeting: &Meeting,
    outcome: Outcome,
    now: Timestamp,
) -> StoreResult<usize> {
    let targets = delivery::targets(conn, project_id, [room_id])?;
    let fanned = persist(
        conn,
        &targets,
        project_id,
        room_id,
        meeting,
        &[outcome],
        now,
    )?;
    Ok(fanned.messages)
}

/// New joins into a deactivated room refuse the whole batch.
fn refuse_deactivated(
    conn: &Connection,
    project_id: &str,
    signals: &[Signal],
    fresh: &[bool],
) -> StoreResult<()> {
    let mut disabled =
        conn.prepare_cached("SELECT disabled FROM rooms WHERE project_id = ?1 AND room_id = ?2")?;
    let mut deactivated = std::collections::HashSet::new();
    for room in joined_rooms(signals, fresh) {
        let off: Option<bool> = disabled
            .query_row(params![project_id, room], |row| row.get(0))
            .optional()?;
        if off == Some(true) {
            deactivated.insert(room.to_owned());
        }
    }
    refused_join(signals, fresh, &deactivated).map_or(Ok(()), Err)
}

fn corrupt(what: &str, e: serde_json::Error) -> StoreError {
    StoreError::Unavailable(format!("corrupt {what}: {e}"))
}

fn load(conn: &Connection, project_id: &str, room_id: &str) -> StoreResult<Option<MeetingState>> {
    let text: Option<String> = conn
        .prepare_cached("SELECT state FROM rooms WHERE project_id = ?1 AND room_id = ?2")?
        .query_row(params![project_id, room_id], |row| row.get(0))
        .optional()?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt("room state", e)))
        .transpose()
}

/// Loads each named participant's latest record that the meeting does not hold yet.
/// The latest record of each participant asked for that exists, with its meeting.
fn load_participants(
    conn: &Connection,
    project_id: &str,
    keys: &[ParticipantKey],
) -> StoreResult<Vec<(String, ParticipantState)>> {
    let mut latest = conn.prepare_cached(
        "SELECT doc FROM participants WHERE project_id = ?1 AND room_id = ?2 AND participant_id = ?3
         ORDER BY position DESC LIMIT 1",
    )?;
    let mut found = Vec::new();
    for key in keys {
        let doc: Option<String> = latest
            .query_row(
                params![project_id, key.room_id, key.participant_id],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(doc) = doc {
            let record: ParticipantState =
                serde_json::from_str(&doc).map_err(|e| corrupt("participant", e))?;
            found.push((key.room_id.clone(), record));
        }
    }
    Ok(found)
}

/// A session's participants, in the order they first joined.
pub fn session_participants(
    conn: &Connection,
    project_id: &str,
    session_id: &str,
) -> rusqlite::Result<Vec<ParticipantState>> {
    conn.prepare_cached(
        "SELECT doc FROM participants WHERE project_id = ?1 AND session_id = ?2
         ORDER BY join_order",
    )?
    .query_map(params![project_id, session_id], |row| {
        let doc: String = row.get(0)?;
        serde_json::from_str(&doc).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })
    })?
    .collect()
}

/// A signal for an unknown meeting creates its room: the platform decides which meetings exist.
fn load_or_create(
    conn: &Connection,
    project_id: &str,
    room_id: &str,
    now: Timestamp,
) -> StoreResult<MeetingState> {
    if let Some(state) = load(conn, project_id, room_id)? {
        return Ok(state);
    }
    conn.prepare_cached(
        "INSERT INTO rooms (project_id, room_id, custom, webhook, state, created_at)
         VALUES (?1, ?2, 1, NULL, '{}', ?3)",
    )?
    .execute(params![project_id, room_id, now.0])?;
    Ok(MeetingState::default())
}

/// Writes a meeting's header, its changed participants, its events and session rows, and fans
/// the events out into messages; returns what fan-out created.
fn persist(
    conn: &Connection,
    targets: &[crate::outbox::Target],
    project_id: &str,
    room_id: &str,
    meeting: &Meeting,
    outcomes: &[Outcome],
    now: Timestamp,
) -> StoreResult<FannedOut> {
    let state = &meeting.state;
    let state_json = serde_json::to_string(state).expect("state serializes");
    conn.prepare_cached(
        "UPDATE rooms SET state = ?3, next_timer_at = ?4 WHERE project_id = ?1 AND room_id = ?2",
    )?
    .execute(params![
        project_id,
        room_id,
        state_json,
        state.next_deadline().map(|t| t.0)
    ])?;
    let mut upsert_participant = conn.prepare_cached(
        "INSERT INTO participants (project_id, room_id, participant_id, session_id, join_order, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (project_id, room_id, participant_id, session_id)
         DO UPDATE SET doc = excluded.doc, join_order = excluded.join_order",
    )?;
    let changed = meeting.changed.iter().map(|id| &meeting.participants[id]);
    for p in meeting.retired.iter().chain(changed) {
        let id = &p.id;
        let doc = serde_json::to_string(p).expect("participant serializes");
        upsert_participant.execute(params![
            project_id,
            room_id,
            id,
            p.session_id,
            p.order as i64,
            doc
        ])?;
    }
    let mut insert_event = conn.prepare_cached(
        "INSERT INTO events (project_id, room_id, session_id, sequence, webhook_type, payload, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut upsert_session = conn.prepare_cached(
        "INSERT INTO sessions (project_id, session_id, room_id, doc) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (project_id, session_id) DO UPDATE SET doc = excluded.doc",
    )?;
    let mut fanned = FannedOut::default();
    let mut started = false;
    for outcome in outcomes {
        for emitted in &outcome.events {
            let webhook_type = emitted.event.webhook_type();
            started |= webhook_type == meetinghooks_webhooks::WebhookType::SessionStarted;
            insert_event.execute(params![
                project_id,
                room_id,
                emitted.session_id,
                emitted.sequence as i64,
                webhook_type.as_str(),
                emitted.event.to_json_bytes(),
                now.0
            ])?;
            let position = conn.last_insert_rowid();
            let event = NewEvent {
                room_id,
                position,
                webhook_type,
            };
            fanned.add(delivery::fan_out(conn, targets, project_id, event, now)?);
        }
        for ended in &outcome.ended {
            let doc = serde_json::to_string(ended).expect("session serializes");
            upsert_session.execute(params![project_id, ended.id, room_id, doc])?;
        }
    }
    // The session row of an ongoing session is written once, when it starts.
    if let Some(ongoing) = state.session.as_ref().filter(|_| started) {
        let doc = serde_json::to_string(ongoing).expect("session serializes");
        upsert_session.execute(params![project_id, ongoing.id, room_id, doc])?;
    }
    Ok(fanned)
}
