//! Applying the engine in a PostgreSQL transaction: lock the meeting's room row, load what a
//! step needs, run it, persist what changed. The row lock serialises a meeting across nodes.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use tokio_postgres::GenericClient;

use super::{corrupt, delivery, PgResult};
use crate::domain::signal::Signal;
use crate::domain::timestamp::Timestamp;
use crate::engine::state::ParticipantState;
use crate::engine::{self, EngineConfig, Meeting, MeetingState, Outcome};
use crate::store::outbox::Target;
use crate::store::{IngestReport, SessionRecord, StoreError};

/// One meeting being changed by a transaction: its state and what the engine emitted.
struct Touched {
    meeting: Meeting,
    outcomes: Vec<Outcome>,
}

pub async fn ingest(
    tx: &Transaction<'_>,
    engine: &EngineConfig,
    project_id: &str,
    signals: &[Signal],
) -> PgResult<IngestReport> {
    let now = Timestamp::now();
    let mut report = IngestReport::default();
    // Every meeting of the batch is locked up front, in one order, so batches never deadlock.
    let mut rooms: Vec<&str> = signals.iter().map(|s| s.meeting_id.as_str()).collect();
    rooms.sort_unstable();
    rooms.dedup();
    let mut touched: HashMap<&str, Touched> = HashMap::with_capacity(rooms.len());
    for room in rooms {
        let state = lock_or_create(tx, project_id, room, now).await?;
        let meeting = Meeting::new(state);
        touched.insert(
            room,
            Touched {
                meeting,
                outcomes: Vec::new(),
            },
        );
    }
    let remember = tx
        .prepare_cached(
            "INSERT INTO signals (project_id, signal_id, received_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .await?;
    let mut order: Vec<&str> = Vec::new();
    for (index, signal) in signals.iter().enumerate() {
        if tx
            .execute(&remember, &[&project_id, &signal.id, &now.0])
            .await?
            == 0
        {
            report.duplicates += 1;
            continue;
        }
        report.accepted += 1;
        let room = signal.meeting_id.as_str();
        if !order.contains(&room) {
            order.push(room);
        }
        let entry = touched.get_mut(room).expect("locked above");
        let needed: Vec<String> = entry
            .meeting
            .needs(signal.kind.participant_id())
            .map(str::to_owned)
            .collect();
        load_participants(tx, project_id, room, &mut entry.meeting, &needed).await?;
        let outcome = engine::apply(&mut entry.meeting, signal, now, engine)
            .map_err(|conflict| StoreError::Conflict { index, conflict })?;
        report.stale += usize::from(outcome.stale);
        report.events += outcome.events.len();
        entry.outcomes.push(outcome);
    }
    let targets = delivery::targets(tx, project_id).await?;
    for room in order {
        let entry = &touched[room];
        report.messages += persist(
            tx,
            &targets,
            project_id,
            room,
            &entry.meeting,
            &entry.outcomes,
            now,
        )
        .await?;
    }
    Ok(report)
}

pub async fn end_session(
    tx: &Transaction<'_>,
    project_id: &str,
    room_id: &str,
    now: Timestamp,
) -> PgResult<SessionRecord> {
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
        engine::end_session(&mut meeting, room_id, now).map_err(StoreError::NoOngoingSession)?;
    let session = outcome
        .ended
        .last()
        .cloned()
        .expect("end_session ends the session");
    let targets = delivery::targets(tx, project_id).await?;
    persist(tx, &targets, project_id, room_id, &meeting, &[outcome], now).await?;
    Ok(SessionRecord {
        room_id: room_id.to_owned(),
        participants: session_participants(&**tx, project_id, &session.id).await?,
        session,
    })
}

/// Fires the most overdue meeting's reconnect graces. Rooms another node is working on are
/// skipped, and the lock makes each deadline fire exactly once across the cluster.
/// Returns the events emitted, or `None` when nothing is due.
pub async fn fire_one_timer(tx: &Transaction<'_>, now: Timestamp) -> PgResult<Option<usize>> {
    let due = tx
        .prepare_cached(
            "SELECT project_id, room_id, state FROM rooms WHERE next_timer_at <= $1
             ORDER BY next_timer_at LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .await?;
    let Some(row) = tx.query_opt(&due, &[&now.0]).await? else {
        return Ok(None);
    };
    let (project_id, room_id): (String, String) = (row.get(0), row.get(1));
    let state = match serde_json::from_str::<MeetingState>(row.get(2)) {
        Ok(state) => state,
        Err(e) => {
            // One broken room must not hold back every timer: disarm it.
            tracing::error!(project_id, room_id, error = %e, "corrupt room state; timer disarmed");
            tx.execute(
                "UPDATE rooms SET next_timer_at = NULL WHERE project_id = $1 AND room_id = $2",
                &[&project_id, &room_id],
            )
            .await?;
            return Ok(Some(0));
        }
    };
    let mut meeting = Meeting::new(state);
    let needed: Vec<String> = meeting.needs(None).map(str::to_owned).collect();
    load_participants(tx, &project_id, &room_id, &mut meeting, &needed).await?;
    let outcome = engine::tick(&mut meeting, &room_id, now);
    let emitted = outcome.events.len();
    let targets = delivery::targets(tx, &project_id).await?;
    persist(
        tx,
        &targets,
        &project_id,
        &room_id,
        &meeting,
        &[outcome],
        now,
    )
    .await?;
    Ok(Some(emitted))
}

fn parse_state(text: &str) -> PgResult<MeetingState> {
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

/// A signal for an unknown meeting creates its room: the platform decides which meetings exist.
async fn lock_or_create(
    tx: &Transaction<'_>,
    project_id: &str,
    room_id: &str,
    now: Timestamp,
) -> PgResult<MeetingState> {
    if let Some(state) = lock(tx, project_id, room_id).await? {
        return Ok(state);
    }
    let create = tx
        .prepare_cached(
            "INSERT INTO rooms (project_id, room_id, custom, webhook, state, created_at)
             VALUES ($1, $2, TRUE, NULL, '{}', $3) ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(&create, &[&project_id, &room_id, &now.0])
        .await?;
    // Another node may have created it first: lock whichever row exists now.
    Ok(lock(tx, project_id, room_id).await?.unwrap_or_default())
}

/// Loads each named participant's latest record that the meeting does not hold yet.
async fn load_participants(
    tx: &Transaction<'_>,
    project_id: &str,
    room_id: &str,
    meeting: &mut Meeting,
    ids: &[String],
) -> PgResult<()> {
    if ids.iter().all(|id| meeting.participants.contains_key(id)) {
        return Ok(());
    }
    let latest = tx
        .prepare_cached(
            "SELECT doc FROM participants
             WHERE project_id = $1 AND room_id = $2 AND participant_id = $3
             ORDER BY position DESC LIMIT 1",
        )
        .await?;
    for id in ids {
        if meeting.participants.contains_key(id) {
            continue;
        }
        if let Some(row) = tx.query_opt(&latest, &[&project_id, &room_id, id]).await? {
            let record: ParticipantState =
                serde_json::from_str(row.get(0)).map_err(|e| corrupt("participant", e))?;
            meeting.participants.insert(id.clone(), record);
        }
    }
    Ok(())
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

/// Writes a meeting's header, its changed participants, its events and session rows, and fans
/// the events out into messages; returns how many messages were created.
async fn persist(
    tx: &Transaction<'_>,
    targets: &[Target],
    project_id: &str,
    room_id: &str,
    meeting: &Meeting,
    outcomes: &[Outcome],
    now: Timestamp,
) -> PgResult<usize> {
    let state = &meeting.state;
    let state_json = serde_json::to_string(state).expect("state serializes");
    let update_room = tx
        .prepare_cached(
            "UPDATE rooms SET state = $3, next_timer_at = $4 WHERE project_id = $1 AND room_id = $2",
        )
        .await?;
    tx.execute(
        &update_room,
        &[
            &project_id,
            &room_id,
            &state_json,
            &state.next_deadline().map(|t| t.0),
        ],
    )
    .await?;
    let upsert_participant = tx
        .prepare_cached(
            "INSERT INTO participants (project_id, room_id, participant_id, session_id, join_order, doc)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (project_id, room_id, participant_id, session_id)
             DO UPDATE SET doc = excluded.doc, join_order = excluded.join_order",
        )
        .await?;
    let changed = meeting.changed.iter().map(|id| &meeting.participants[id]);
    for p in meeting.retired.iter().chain(changed) {
        let doc = serde_json::to_string(p).expect("participant serializes");
        tx.execute(
            &upsert_participant,
            &[
                &project_id,
                &room_id,
                &p.id,
                &p.session_id,
                &(p.order as i64),
                &doc,
            ],
        )
        .await?;
    }
    let insert_event = tx
        .prepare_cached(
            "INSERT INTO events (project_id, room_id, session_id, sequence, webhook_type, payload, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING position",
        )
        .await?;
    let upsert_session = tx
        .prepare_cached(
            "INSERT INTO sessions (project_id, session_id, room_id, doc) VALUES ($1, $2, $3, $4)
             ON CONFLICT (project_id, session_id) DO UPDATE SET doc = excluded.doc",
        )
        .await?;
    let mut messages = 0;
    let mut started = false;
    for outcome in outcomes {
        for emitted in &outcome.events {
            let webhook_type = emitted.event.webhook_type();
            started |= webhook_type == meetinghooks_webhooks::WebhookType::SessionStarted;
            let position: i64 = tx
                .query_one(
                    &insert_event,
                    &[
                        &project_id,
                        &room_id,
                        &emitted.session_id,
                        &(emitted.sequence as i64),
                        &webhook_type.as_str(),
                        &emitted.event.to_json_bytes(),
                        &now.0,
                    ],
                )
                .await?
                .get(0);
            messages += delivery::fan_out(
                tx,
                targets,
                project_id,
                room_id,
                position,
                webhook_type,
                now,
            )
            .await?;
        }
        for ended in &outcome.ended {
            let doc = serde_json::to_string(ended).expect("session serializes");
            tx.execute(&upsert_session, &[&project_id, &ended.id, &room_id, &doc])
                .await?;
        }
    }
    // The session row of an ongoing session is written once, when it starts.
    if let Some(ongoing) = state.session.as_ref().filter(|_| started) {
        let doc = serde_json::to_string(ongoing).expect("session serializes");
        tx.execute(&upsert_session, &[&project_id, &ongoing.id, &room_id, &doc])
            .await?;
    }
    Ok(messages)
}
