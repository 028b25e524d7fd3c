//! Numbered pages of rooms and sessions, and room deactivation, in SQLite.

use async_trait::async_trait;
use rusqlite::{params, Connection};

use super::super::reads::with_participants;
use super::super::{rooms, SqliteStore};
use crate::domain::timestamp::Timestamp;
use crate::store::listings::{
    candidate, AutoCloseCandidate, Listings, NumberedPage, PageRequest, AUTO_CLOSE_CANDIDATES,
};
use crate::store::rows::{self, ROOM_COLUMNS};
use crate::store::{Room, SessionRecord, StoreError, StoreResult};

fn session_page(
    conn: &Connection,
    project_id: &str,
    room_id: Option<&str>,
    page: PageRequest,
) -> rusqlite::Result<NumberedPage<SessionRecord>> {
    let filter = "project_id = ?1 AND (?2 IS NULL OR room_id = ?2)";
    let total: i64 = conn.query_row(
        &format!("SELECT count(*) FROM sessions WHERE {filter}"),
        params![project_id, room_id],
        |row| row.get(0),
    )?;
    let items = conn
        .prepare_cached(&format!(
            "SELECT room_id, doc FROM sessions WHERE {filter}
             ORDER BY position DESC LIMIT ?3 OFFSET ?4"
        ))?
        .query_map(
            params![
                project_id,
                room_id,
                page.per_page as i64,
                page.offset() as i64
            ],
            |row| rows::session(row),
        )?
        .map(|record| with_participants(conn, project_id, record?))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(NumberedPage {
        items,
        total: total as u64,
    })
}

fn room_page(
    conn: &Connection,
    project_id: &str,
    page: PageRequest,
) -> rusqlite::Result<NumberedPage<Room>> {
    let total: i64 = conn.query_row(
        "SELECT count(*) FROM rooms WHERE project_id = ?1",
        [project_id],
        |row| row.get(0),
    )?;
    let items = conn
        .prepare_cached(&format!(
            "SELECT {ROOM_COLUMNS} FROM rooms WHERE project_id = ?1
             ORDER BY created_at DESC, room_id LIMIT ?2 OFFSET ?3"
        ))?
        .query_map(
            params![project_id, page.per_page as i64, page.offset() as i64],
            |row| rows::room(row),
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(NumberedPage {
        items,
        total: total as u64,
    })
}

#[async_trait]
impl Listings for SqliteStore {
    async fn session_page(
        &self,
        project_id: &str,
        room_id: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<NumberedPage<SessionRecord>> {
        let (project_id, room_id) = (project_id.to_owned(), room_id.map(str::to_owned));
        self.read(move |conn| session_page(conn, &project_id, room_id.as_deref(), page))
            .await
    }

    async fn room_page(
        &self,
        project_id: &str,
        page: PageRequest,
    ) -> StoreResult<NumberedPage<Room>> {
        let project_id = project_id.to_owned();
        self.read(move |conn| room_page(conn, &project_id, page))
            .await
    }

    async fn deactivate_room(
        &self,
        project_id: &str,
        room_id: &str,
        now: Timestamp,
    ) -> StoreResult<Room> {
        let (project_id, room_id) = (project_id.to_owned(), room_id.to_owned());
        self.write(move |conn, _| {
            conn.execute(
                "UPDATE rooms SET disabled = 1, updated_at = ?3 WHERE project_id = ?1 AND room_id = ?2",
                params![project_id, room_id, now.0],
            )?;
            rooms::get(conn, &project_id, &room_id)?.ok_or(StoreError::NotFound("room"))
        })
        .await
    }

    async fn auto_close_candidates(&self) -> StoreResult<Vec<AutoCloseCandidate>> {
        self.read(move |conn| {
            conn.prepare_cached(AUTO_CLOSE_CANDIDATES)?
                .query_map([], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })?
                .collect::<rusqlite::Result<Vec<(String, String, String, String)>>>()
                .map(|rows| rows.into_iter().filter_map(candidate).collect())
                .map_err(StoreError::from)
        })
        .await
    }
}
