//! What VideoSDK's room API needs of a store: numbered pages of rooms and sessions (`page`,
//! `perPage`, a total), room deactivation, and the sessions `autoCloseConfig` ends. A separate
//! trait (a supertrait of `Store`), written once over the shared query executor.

use async_trait::async_trait;

use super::query::{args, Commit, Query};
use super::reads::with_participants;
use super::rows::{self, Columns, ROOM_COLUMNS};
use super::{AutoClose, Room, SessionRecord, StoreError, StoreResult};
use crate::domain::timestamp::Timestamp;

/// One numbered page and how many items there are in all.
#[derive(Debug, Clone)]
pub struct NumberedPage<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// Which page: 1-based, `per_page` items each.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub page: u64,
    pub per_page: u64,
}

impl PageRequest {
    pub fn offset(self) -> u64 {
        (self.page - 1).saturating_mul(self.per_page)
    }
}

#[async_trait]
pub trait Listings: Send + Sync + 'static {
    /// Sessions newest first, of one room or of every room.
    async fn session_page(
        &self,
        project_id: &str,
        room_id: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<NumberedPage<SessionRecord>>;
    /// Rooms newest first.
    async fn room_page(
        &self,
        project_id: &str,
        page: PageRequest,
    ) -> StoreResult<NumberedPage<Room>>;
    /// Marks the room deactivated (it refuses joins from now on); `NotFound` if it does not exist.
    async fn deactivate_room(
        &self,
        project_id: &str,
        room_id: &str,
        now: Timestamp,
    ) -> StoreResult<Room>;
    /// The latest session of every room with an `autoCloseConfig`, with that config.
    async fn auto_close_candidates(&self) -> StoreResult<Vec<AutoCloseCandidate>>;
}

#[async_trait]
impl<S: Query + 'static> Listings for S {
    async fn session_page(
        &self,
        project_id: &str,
        room_id: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<NumberedPage<SessionRecord>> {
        let filter = "project_id = $1 AND (CAST($2 AS TEXT) IS NULL OR room_id = $2)";
        let total = self
            .first(
                &format!("SELECT count(*) FROM sessions WHERE {filter}"),
                args![project_id, room_id],
                |row| row.int(0),
            )
            .await?;
        let sql = format!(
            "SELECT room_id, doc FROM sessions WHERE {filter}
             ORDER BY position DESC LIMIT $3 OFFSET $4"
        );
        let params = args![
            project_id,
            room_id,
            page.per_page as i64,
            page.offset() as i64
        ];
        let sessions = self
            .all(&sql, params, |row| Ok((rows::session(row)?, ())))
            .await?;
        let items = with_participants(self, project_id, sessions).await?;
        Ok(NumberedPage {
            items: items.into_iter().map(|(record, ())| record).collect(),
            total: total.unwrap_or_default() as u64,
        })
    }

    async fn room_page(
        &self,
        project_id: &str,
        page: PageRequest,
    ) -> StoreResult<NumberedPage<Room>> {
        let total = self
            .first(
                "SELECT count(*) FROM rooms WHERE project_id = $1",
                args![project_id],
                |row| row.int(0),
            )
            .await?;
        let sql = format!(
            "SELECT {ROOM_COLUMNS} FROM rooms WHERE project_id = $1
             ORDER BY created_at DESC, room_id LIMIT $2 OFFSET $3"
        );
        let params = args![project_id, page.per_page as i64, page.offset() as i64];
        Ok(NumberedPage {
            items: self.all(&sql, params, rows::room).await?,
            total: total.unwrap_or_default() as u64,
        })
    }

    async fn deactivate_room(
        &self,
        project_id: &str,
        room_id: &str,
        now: Timestamp,
    ) -> StoreResult<Room> {
        let sql = format!(
            "UPDATE rooms SET disabled = TRUE, updated_at = $3
             WHERE project_id = $1 AND room_id = $2 RETURNING {ROOM_COLUMNS}"
        );
        let params = args![project_id, room_id, now.0];
        let rows = self.returning(&sql, params, Commit::Durable).await?;
        rows.first()
            .map(rows::room)
            .ok_or(StoreError::NotFound("room"))?
    }

    async fn auto_close_candidates(&self) -> StoreResult<Vec<AutoCloseCandidate>> {
        let rows = self
            .all(AUTO_CLOSE_CANDIDATES, args![], |row| {
                Ok((row.text(0)?, row.text(1)?, row.text(2)?, row.text(3)?))
            })
            .await?;
        Ok(rows.into_iter().filter_map(candidate).collect())
    }
}

/// A room whose sessions close by themselves, and its latest session.
#[derive(Debug, Clone)]
pub struct AutoCloseCandidate {
    pub project_id: String,
    pub room_id: String,
    pub auto_close: AutoClose,
    pub session: crate::engine::SessionState,
}

impl AutoCloseCandidate {
    /// Whether its session is still on and has run its `duration` at `now`.
    pub fn due(&self, now: Timestamp) -> bool {
        let limit = i64::from(self.auto_close.duration) * 60_000;
        self.session.end.is_none() && self.session.start.plus_millis(limit) <= now
    }
}

/// Rooms with an `autoCloseConfig` and their latest session, for both stores.
const AUTO_CLOSE_CANDIDATES: &str = "SELECT r.project_id, r.room_id, r.auto_close, s.doc
     FROM rooms r JOIN sessions s ON s.project_id = r.project_id AND s.room_id = r.room_id
     WHERE r.auto_close IS NOT NULL AND s.position = (
         SELECT max(position) FROM sessions l
         WHERE l.project_id = r.project_id AND l.room_id = r.room_id)";

/// A candidate from its columns; rows this store did not write are skipped.
fn candidate(
    (project_id, room_id, auto_close, session): (String, String, String, String),
) -> Option<AutoCloseCandidate> {
    Some(AutoCloseCandidate {
        project_id,
        room_id,
        auto_close: serde_json::from_str(&auto_close).ok()?,
        session: serde_json::from_str(&session).ok()?,
    })
}

/// The rooms the batch's new joins go to, which a deactivation may refuse.
pub(crate) fn joined_rooms<'a>(
    signals: &'a [crate::domain::signal::Signal],
    fresh: &[bool],
) -> std::collections::BTreeSet<&'a str> {
    signals
        .iter()
        .zip(fresh)
        .filter(|(s, fresh)| **fresh && is_join(s))
        .map(|(s, _)| s.meeting_id.as_str())
        .collect()
}

/// What refuses the batch: its first new join into a deactivated room. Checked inside the
/// ingest transaction, so no join lands after a deactivation commits; a repeated id stays a
/// duplicate.
pub(crate) fn refused_join(
    signals: &[crate::domain::signal::Signal],
    fresh: &[bool],
    deactivated: &std::collections::HashSet<String>,
) -> Option<super::StoreError> {
    signals
        .iter()
        .zip(fresh)
        .position(|(s, fresh)| *fresh && is_join(s) && deactivated.contains(&s.meeting_id))
        .map(|index| super::StoreError::RoomDeactivated {
            index,
            room_id: signals[index].meeting_id.clone(),
        })
}

fn is_join(signal: &crate::domain::signal::Signal) -> bool {
    matches!(
        signal.kind,
        crate::domain::signal::SignalKind::ParticipantJoined { .. }
    )
}
