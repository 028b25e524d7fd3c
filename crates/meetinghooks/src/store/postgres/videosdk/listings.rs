//! Numbered pages of rooms and sessions, and room deactivation, in PostgreSQL.

use async_trait::async_trait;

use super::super::error::{PgError, PgResult};
use super::super::rows::session_records;
use super::super::{PostgresStore, MAX_RETRIES};
use crate::domain::timestamp::Timestamp;
use crate::store::listings::{
    candidate, AutoCloseCandidate, Listings, NumberedPage, PageRequest, AUTO_CLOSE_CANDIDATES,
};
use crate::store::rows::{self, ROOM_COLUMNS};
use crate::store::{Room, SessionRecord, StoreError, StoreResult};

#[async_trait]
impl Listings for PostgresStore {
    async fn session_page(
        &self,
        project_id: &str,
        room_id: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<NumberedPage<SessionRecord>> {
        let client = self.client().await?;
        let filter = "project_id = $1 AND ($2::TEXT IS NULL OR room_id = $2)";
        let total: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM sessions WHERE {filter}"),
                &[&project_id, &room_id],
            )
            .await
            .map_err(PgError::from)?
            .get(0);
        let rows = client
            .query(
                &format!(
                    "SELECT room_id, doc FROM sessions WHERE {filter}
                     ORDER BY position DESC LIMIT $3 OFFSET $4"
                ),
                &[
                    &project_id,
                    &room_id,
                    &(page.per_page as i64),
                    &(page.offset() as i64),
                ],
            )
            .await
            .map_err(PgError::from)?;
        let items = session_records(&**client, project_id, rows)
            .await?
            .into_iter()
            .map(|(record, _)| record)
            .collect();
        Ok(NumberedPage {
            items,
            total: total as u64,
        })
    }

    async fn room_page(
        &self,
        project_id: &str,
        page: PageRequest,
    ) -> StoreResult<NumberedPage<Room>> {
        let client = self.client().await?;
        let total: i64 = client
            .query_one(
                "SELECT count(*) FROM rooms WHERE project_id = $1",
                &[&project_id],
            )
            .await
            .map_err(PgError::from)?
            .get(0);
        let rows = client
            .query(
                &format!(
                    "SELECT {ROOM_COLUMNS} FROM rooms WHERE project_id = $1
                     ORDER BY created_at DESC, room_id LIMIT $2 OFFSET $3"
                ),
                &[
                    &project_id,
                    &(page.per_page as i64),
                    &(page.offset() as i64),
                ],
            )
            .await
            .map_err(PgError::from)?;
        let items = rows
            .iter()
            .map(rows::room)
            .collect::<Result<Vec<_>, _>>()
            .map_err(PgError::from)?;
        Ok(NumberedPage {
            items,
            total: total as u64,
        })
    }

    async fn deactivate_room(
        &self,
        project_id: &str,
        room_id: &str,
        now: Timestamp,
    ) -> StoreResult<Room> {
        let room = transact!(self, |tx| async {
            let row = tx
                .query_opt(
                    &format!(
                        "UPDATE rooms SET disabled = TRUE, updated_at = $3
                         WHERE project_id = $1 AND room_id = $2 RETURNING {ROOM_COLUMNS}"
                    ),
                    &[&project_id, &room_id, &now.0],
                )
                .await?
                .ok_or(PgError::Store(StoreError::NotFound("room")))?;
            PgResult::Ok(rows::room(&row)?)
        })?;
        Ok(room)
    }

    async fn auto_close_candidates(&self) -> StoreResult<Vec<AutoCloseCandidate>> {
        let client = self.client().await?;
        let rows = client
            .query(AUTO_CLOSE_CANDIDATES, &[])
            .await
            .map_err(PgError::from)?;
        Ok(rows
            .iter()
            .filter_map(|row| candidate((row.get(0), row.get(1), row.get(2), row.get(3))))
            .collect())
    }
}
