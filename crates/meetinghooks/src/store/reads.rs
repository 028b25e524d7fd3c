//! Reading rooms, sessions and the event log (the listings the API pages through), written once over
//! the shared query executor.

use super::query::{args, Positioned, Query};
use super::rows::{self, Columns, ROOM_COLUMNS};
use super::sql;
use super::{EventQuery, Page, Room, SessionRecord, StoreResult, StoredEvent};
use crate::domain::public_ids::PublicIds;
use crate::domain::timestamp::Timestamp;
use crate::engine::state::ParticipantState;

/// One room.
pub(crate) async fn room(
    store: &impl Query,
    project_id: &str,
    room_id: &str,
) -> StoreResult<Option<Room>> {
    let sql = format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE project_id = $1 AND room_id = $2");
    store
        .first(&sql, args![project_id, room_id], rows::room)
        .await
}

/// When the earliest timer of any room is due.
pub(crate) async fn next_timer(store: &impl Query) -> StoreResult<Option<Timestamp>> {
    let sql = "SELECT MIN(next_timer_at) FROM rooms WHERE next_timer_at IS NOT NULL";
    let next = store.first(sql, args![], |row| row.opt_int(0)).await?;
    Ok(next.flatten().map(Timestamp))
}

/// Each session with its participants, in join order.
pub(crate) async fn with_participants<T>(
    store: &impl Query,
    project_id: &str,
    sessions: Vec<(SessionRecord, T)>,
) -> StoreResult<Vec<(SessionRecord, T)>> {
    let mut out = Vec::with_capacity(sessions.len());
    for (mut record, extra) in sessions {
        record.participants = store
            .all(
                "SELECT doc FROM participants WHERE project_id = $1 AND session_id = $2
                 ORDER BY join_order",
                args![project_id, &record.session.id],
                |row| row.json::<ParticipantState>(0),
            )
            .await?;
        out.push((record, extra));
    }
    Ok(out)
}

/// A room's sessions, newest first, before the `before` position.
pub(crate) async fn sessions(
    store: &impl Query,
    project_id: &str,
    room_id: &str,
    before: Option<i64>,
    limit: usize,
) -> StoreResult<Page<SessionRecord>> {
    let params = args![
        project_id,
        room_id,
        before.unwrap_or(i64::MAX),
        limit as i64 + 1
    ];
    let rows = store
        .all(sql::SESSIONS_PAGE, params, |row| {
            Ok((rows::session(row)?, row.int(2)?))
        })
        .await?;
    let rows = with_participants(store, project_id, rows).await?;
    Ok(Page::from_rows(rows, limit))
}

/// One session with its participants.
pub(crate) async fn session(
    store: &impl Query,
    project_id: &str,
    session_id: &str,
) -> StoreResult<Option<SessionRecord>> {
    let Some(record) = store
        .first(
            sql::SESSION_BY_ID,
            args![project_id, session_id],
            rows::session,
        )
        .await?
    else {
        return Ok(None);
    };
    let mut records = with_participants(store, project_id, vec![(record, ())]).await?;
    Ok(records.pop().map(|(record, ())| record))
}

/// The event log, oldest first, after `query.after`, up to the settled position.
pub(crate) async fn events(
    store: &impl Query,
    ids: &PublicIds,
    project_id: &str,
    query: EventQuery,
) -> StoreResult<Page<StoredEvent>> {
    let settled = store.settled(Positioned::Events).await?;
    let params = args![
        project_id,
        query.after.unwrap_or(0),
        query.meeting_id,
        query.session_id,
        query.webhook_type,
        query.limit as i64 + 1,
        settled,
    ];
    let rows = store
        .all(&sql::events_page(), params, |row| {
            rows::event(row, ids).map(|event| (event.position, event))
        })
        .await?;
    let rows = rows.into_iter().map(|(position, event)| (event, position));
    Ok(Page::from_rows(rows.collect(), query.limit))
}
