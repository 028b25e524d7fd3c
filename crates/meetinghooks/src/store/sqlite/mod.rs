//! SQLite store: one writer thread with group commit, a pool of readers, WAL, embedded migrations.

mod delivery;
mod endpoints;
mod keys;
mod meeting;
mod pruning;
mod query;
mod readers;
mod requeue;
mod rooms;
mod schema;
mod videosdk;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{params, Connection};

use super::changes::{ChangeFeed, ChangeHub, Changes};
use super::{
    named, AttemptOutcome, AttemptRecord, EventQuery, IngestReport, LeaseBatch, LeaseRequest,
    Leased, MessageQuery, MessageRecord, MessageStatus, Page, Project, Recorded, Room,
    RoomSettings, SessionRecord, Store, StoreError, StoreResult, StoredEvent,
};
use crate::domain::endpoint::{DeliveryChange, Endpoint, EndpointPatch};
use crate::domain::public_ids::PublicIds;
use crate::domain::signal::Signal;
use crate::domain::timestamp::Timestamp;
use crate::engine::{EngineConfig, SessionEnd};
use crate::sealing::Sealer;

use crate::store::endpoints as shared_endpoints;
use crate::store::{messages, projects, reads};
use readers::ReaderPool;
use schema::{create_private, migrate, open_connection};

const TIMER_BATCH: usize = 256;

pub struct SqliteStore {
    writer: writer::Writer,
    readers: Arc<ReaderPool>,
    /// Announced after a job's commit reply: a rolled-back job announces nothing.
    hub: ChangeHub,
    sealer: Arc<Sealer>,
    /// The install's key for public message and event ids and cursors.
    ids: Arc<PublicIds>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at a `sqlite://PATH` URL and runs migrations.
    pub fn open(url: &str, engine: EngineConfig, sealer: Arc<Sealer>) -> anyhow::Result<Self> {
        let path = PathBuf::from(
            url.strip_prefix("sqlite://")
                .ok_or_else(|| anyhow::anyhow!("database_url must start with sqlite://"))?,
        );
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        create_private(&path)?;
        let mut conn = open_connection(&path)?;
        // The writer touches the same hot pages (rooms, queue heads) over and over; readers
        // keep SQLite's small default cache.
        conn.pragma_update(None, "cache_size", -8_192)?;
        migrate(&mut conn)?;
        schema::reseal(&mut conn, &sealer)?;
        let ids = Arc::new(schema::public_ids(&conn)?);
        let writer = writer::Writer::start(conn, engine, writer::QUEUE)?;
        Ok(SqliteStore {
            writer,
            readers: Arc::new(ReaderPool::new(path)),
            hub: ChangeHub::default(),
            sealer,
            ids,
        })
    }

    async fn read<T: Send + 'static, E: Into<StoreError>>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> StoreResult<T> {
        self.readers.read(work).await
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        unavailable(e)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_project(&self, name: &str, key_hash: [u8; 32]) -> StoreResult<Project> {
        projects::create(self, name, key_hash).await
    }

    async fn ensure_project_key(&self, name: &str, key_hash: [u8; 32]) -> StoreResult<Project> {
        projects::ensure_key(self, name, key_hash).await
    }

    async fn project_by_key(&self, key_hash: [u8; 32]) -> StoreResult<Option<Project>> {
        projects::by_key(self, key_hash).await
    }

    async fn upsert_room(
        &self,
        project_id: &str,
        room_id: &str,
        custom: bool,
        settings: RoomSettings,
    ) -> StoreResult<(Room, bool)> {
        let (project_id, room_id) = (project_id.to_owned(), room_id.to_owned());
        let announce = Changes::ENDPOINTS.if_any(usize::from(settings.webhook.is_some()));
        let sealer = self.sealer.clone();
        self.write(move |conn, _| {
            rooms::upsert(conn, &sealer, &project_id, &room_id, custom, settings)
        })
        .await
        .inspect(|_| self.hub.announce(announce))
    }

    async fn room(&self, project_id: &str, room_id: &str) -> StoreResult<Option<Room>> {
        reads::room(self, project_id, room_id).await
    }

    async fn ingest(&self, project_id: &str, signals: Vec<Signal>) -> StoreResult<IngestReport> {
        let project_id = project_id.to_owned();
        self.write(move |conn, engine| meeting::ingest(conn, engine, &project_id, &signals))
            .await
            .map(|ingested| self.hub.announce_ingest(ingested))
    }

    async fn end_session(
        &self,
        project_id: &str,
        room_id: &str,
        end: SessionEnd,
    ) -> StoreResult<SessionRecord> {
        let (project_id, room_id) = (project_id.to_owned(), room_id.to_owned());
        self.write(move |conn, _| meeting::end_session(conn, &project_id, &room_id, end))
            .await
            .inspect(|_| self.hub.announce(Changes::DUE))
    }

    async fn fire_due_timers(&self, now: Timestamp) -> StoreResult<usize> {
        self.write(move |conn, _| meeting::fire_due_timers(conn, now, TIMER_BATCH))
            .await
            .inspect(|fired| self.hub.announce(Changes::DUE.if_any(*fired)))
    }

    async fn next_timer(&self) -> StoreResult<Option<Timestamp>> {
        reads::next_timer(self).await
    }

    async fn sessions(
        &self,
        project_id: &str,
        room_id: &str,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<SessionRecord>> {
        reads::sessions(self, project_id, room_id, before, limit).await
    }

    async fn session(
        &self,
        project_id: &str,
        session_id: &str,
    ) -> StoreResult<Option<SessionRecord>> {
        reads::session(self, project_id, session_id).await
    }

    async fn events(&self, project_id: &str, query: EventQuery) -> StoreResult<Page<StoredEvent>> {
        reads::events(self, &self.ids, project_id, query).await
    }

    async fn create_endpoint(&self, endpoint: Endpoint) -> StoreResult<Endpoint> {
        shared_endpoints::create(self, endpoint).await
    }

    async fn endpoints(&self, project_id: &str) -> StoreResult<Vec<Endpoint>> {
        shared_endpoints::list(self, Some(project_id)).await
    }

    async fn endpoint(&self, project_id: &str, endpoint_id: &str) -> StoreResult<Option<Endpoint>> {
        shared_endpoints::get(self, project_id, endpoint_id).await
    }

    async fn update_endpoint(
        &self,
        project_id: &str,
        endpoint_id: &str,
        patch: EndpointPatch,
    ) -> StoreResult<Endpoint> {
        let (project_id, endpoint_id) = (project_id.to_owned(), endpoint_id.to_owned());
        let sealer = self.sealer.clone();
        self.write(move |conn, _| {
            // Read inside the writer: nothing can change the row between this read and the write.
            let mut endpoint = endpoints::get(conn, &sealer, &project_id, &endpoint_id)?
                .ok_or(StoreError::NotFound("endpoint"))?;
            let change = patch.apply(&mut endpoint);
            endpoints::update_settings(conn, &sealer, &endpoint)?;
            match change {
                DeliveryChange::Disabled => {
                    endpoints::skip_queued(conn, &endpoint.id)?;
                }
                DeliveryChange::Enabled => {
                    requeue::promote_stranded(conn, &endpoint.id, Timestamp::now())?;
                }
                DeliveryChange::Unchanged => {}
            }
            Ok(endpoint)
        })
        .await
        // Re-enabled, its queued messages may be due.
        .inspect(|_| self.hub.announce(Changes::ENDPOINTS.and(Changes::DUE)))
    }

    async fn rotate_endpoint_secret(
        &self,
        project_id: &str,
        endpoint_id: &str,
        secret: String,
        previous_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Endpoint> {
        let rotate = shared_endpoints::rotate_secret;
        rotate(self, project_id, endpoint_id, &secret, previous_until, now).await
    }

    async fn delete_endpoint(&self, project_id: &str, endpoint_id: &str) -> StoreResult<bool> {
        let (project_id, endpoint_id) = (project_id.to_owned(), endpoint_id.to_owned());
        self.write(move |conn, _| endpoints::delete(conn, &project_id, &endpoint_id))
            .await
            .inspect(|_| self.hub.announce(Changes::ENDPOINTS))
    }

    async fn room_secret(&self, project_id: &str) -> StoreResult<String> {
        let (project_id, sealer) = (project_id.to_owned(), self.sealer.clone());
        self.write(move |conn, _| endpoints::room_secret(conn, &sealer, &project_id))
            .await
    }

    async fn rotate_room_secret(
        &self,
        project_id: &str,
        secret: String,
        previous_until: Timestamp,
    ) -> StoreResult<String> {
        let (project_id, sealer) = (project_id.to_owned(), self.sealer.clone());
        self.write(move |conn, _| {
            let previous = sealer.seal(&endpoints::room_secret(conn, &sealer, &project_id)?);
            let sealed = sealer.seal(&secret);
            conn.execute(
                "UPDATE projects SET room_secret = ?2, room_secret_previous = ?3,
                 room_secret_previous_until = ?4 WHERE id = ?1",
                params![project_id, sealed, previous, previous_until.0],
            )?;
            conn.execute(
                "UPDATE endpoints SET secret = ?2, secret_previous = ?3, secret_previous_until = ?4
                 WHERE project_id = ?1 AND room_id IS NOT NULL",
                params![project_id, sealed, previous, previous_until.0],
            )?;
            Ok(secret)
        })
        .await
        .inspect(|_| self.hub.announce(Changes::ENDPOINTS))
    }

    async fn delivery_targets(&self) -> StoreResult<Vec<Endpoint>> {
        shared_endpoints::list(self, None).await
    }

    async fn lease(
        &self,
        requests: Vec<LeaseRequest>,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<LeaseBatch> {
        self.write_relaxed(move |conn, _| delivery::lease(conn, &requests, now, lease_until))
            .await
            .map(|batch| LeaseBatch {
                leased: batch.leased.into_iter().map(named(&self.ids)).collect(),
                ..batch
            })
    }

    async fn record_outcomes(
        &self,
        outcomes: Vec<AttemptOutcome>,
        auto_disable_after_ms: i64,
        lease_until: Option<Timestamp>,
    ) -> StoreResult<Recorded> {
        self.write_relaxed(move |conn, _| {
            delivery::record_outcomes(conn, &outcomes, auto_disable_after_ms, lease_until)
        })
        .await
        .map(|recorded| Recorded {
            promoted: recorded
                .promoted
                .into_iter()
                .map(named(&self.ids))
                .collect(),
            ..recorded
        })
        .inspect(|recorded| self.hub.announce_outcomes(recorded))
    }

    async fn release_leases(&self, now: Timestamp) -> StoreResult<usize> {
        self.write_relaxed(move |conn, _| delivery::release_leases(conn, now))
            .await
            .inspect(|released| self.hub.announce(Changes::DUE.if_any(*released)))
    }

    async fn delete_finished(&self, cutoff: Timestamp, limit: usize) -> StoreResult<usize> {
        self.write_relaxed(move |conn, _| delivery::delete_finished(conn, cutoff, limit))
            .await
    }

    async fn queue_depth(&self) -> StoreResult<Vec<(MessageStatus, u64)>> {
        messages::queue_depth(self).await
    }

    async fn messages(
        &self,
        project_id: &str,
        query: MessageQuery,
    ) -> StoreResult<Page<MessageRecord>> {
        messages::messages(self, project_id, &query).await
    }

    async fn message(
        &self,
        project_id: &str,
        message_id: &str,
    ) -> StoreResult<Option<MessageRecord>> {
        messages::by_id(self, project_id, message_id).await
    }

    async fn attempts(
        &self,
        project_id: &str,
        message_id: &str,
        after: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<AttemptRecord>> {
        messages::attempts_by_id(self, project_id, message_id, after, limit).await
    }

    async fn recover(
        &self,
        project_id: &str,
        endpoint_id: &str,
        since: Timestamp,
    ) -> StoreResult<usize> {
        let (project_id, endpoint_id) = (project_id.to_owned(), endpoint_id.to_owned());
        let sealer = self.sealer.clone();
        self.write(move |conn, _| {
            endpoints::get(conn, &sealer, &project_id, &endpoint_id)?
                .ok_or(StoreError::NotFound("endpoint"))?;
            requeue::recover(conn, &endpoint_id, since, Timestamp::now())
        })
        .await
        // Even with nothing re-queued, a repaired queue may have a message due.
        .inspect(|_| self.hub.announce(Changes::DUE))
    }

    async fn lease_for_resend(
        &self,
        project_id: &str,
        message_id: &str,
        lease_until: Timestamp,
    ) -> StoreResult<Leased> {
        let position = self
            .ids
            .message_position(message_id)
            .ok_or(StoreError::NotFound("message"))?;
        let project_id = project_id.to_owned();
        self.write(move |conn, _| {
            requeue::lease_for_resend(conn, &project_id, position, lease_until)
        })
        .await
        .map(named(&self.ids))
    }

    async fn enqueue_test(
        &self,
        project_id: &str,
        endpoint_id: &str,
        webhook_type: &str,
        payload: Vec<u8>,
    ) -> StoreResult<String> {
        let (project_id, endpoint_id, webhook_type) = (
            project_id.to_owned(),
            endpoint_id.to_owned(),
            webhook_type.to_owned(),
        );
        self.write(move |conn, _| {
            requeue::enqueue_test(
                conn,
                &project_id,
                &endpoint_id,
                &webhook_type,
                &payload,
                Timestamp::now(),
            )
        })
        .await
        .map(|position| self.ids.message_id(position))
        .inspect(|_| self.hub.announce(Changes::DUE))
    }

    fn changes(&self) -> ChangeFeed {
        self.hub.subscribe()
    }

    fn public_ids(&self) -> &PublicIds {
        &self.ids
    }

    /// Through the writer, which every change needs, then through a reader.
    async fn ping(&self) -> StoreResult<()> {
        self.writer.ping().await?;
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
            .await
            .map_err(|e| StoreError::Unavailable(format!("SQLite readers: {e}")))
    }
}
