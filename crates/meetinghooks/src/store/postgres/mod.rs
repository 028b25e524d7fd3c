//! PostgreSQL store: shared by any number of nodes. A meeting's room row is its lock; leases
//! are rows that expire; migrations run under an advisory lock.

mod connect;
mod delivery;
mod endpoints;
mod error;
mod listen;
mod meeting;
mod outcomes;
mod requeue;
mod rows;
mod session;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use tokio::sync::watch;

use super::changes::{ChangeFeed, ChangeHub, Changes, Outbound};
use super::{
    named, AttemptOutcome, AttemptRecord, EventQuery, IngestReport, LeaseBatch, LeaseRequest,
    Leased, MessageQuery, MessageRecord, MessageStatus, Page, Project, Recorded, Room,
    RoomSettings, SessionRecord, Store, StoreError, StoreResult, StoredEvent,
};
use crate::domain::endpoint::{Endpoint, EndpointPatch};
use crate::domain::ids::random_hex_id;
use crate::domain::public_ids::PublicIds;
use crate::domain::signal::Signal;
use crate::domain::timestamp::Timestamp;
use crate::engine::{EngineConfig, SessionEnd};
use crate::sealing::Sealer;

use super::endpoints as shared_endpoints;
use super::{messages, projects, reads};
use error::{PgError, PgResult};

const TIMER_BATCH: usize = 256;
/// A transaction that lost a deadlock or serialization race is run again this many times.
const MAX_RETRIES: u32 = 8;
/// How long a request waits for the database before it is answered 503.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `$body` (an expression using the open transaction `$tx`) and commits it, again from
/// the start when it lost a deadlock or serialization race.
macro_rules! transact {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut tries = 0;
        loop {
            let result: PgResult<_> = async {
                let mut client = $store.pool.get().await?;
                let $tx = client.transaction().await?;
                let value = $body.await?;
                $tx.commit().await?;
                Ok(value)
            }
            .await;
            match result {
                Err(e) if e.retryable() && tries < MAX_RETRIES => tries += 1,
                other => break other.map_err(StoreError::from),
            }
        }
    }};
}

// After `transact!`, which they use.
mod keys;
mod pruning;
mod query;
mod rooms;
mod schema;
mod timers;
mod videosdk;

pub use delivery::LeaseClock;
pub use session::SessionLimits;

pub struct PostgresStore {
    pool: Pool,
    engine: EngineConfig,
    /// Announced after each commit, here and (through `listen`) to the other nodes.
    hub: Arc<ChangeHub>,
    /// Dropped with the store, which ends its notifying and listening tasks.
    _stop: watch::Sender<()>,
    lease_clock: LeaseClock,
    limits: SessionLimits,
    sealer: Arc<Sealer>,
    /// The install's key for public message and event ids and cursors.
    ids: PublicIds,
}

impl PostgresStore {
    /// Connects to a `postgres://` URL with up to `max_connections`, and runs migrations.
    pub async fn open(
        url: &str,
        max_connections: usize,
        engine: EngineConfig,
        sealer: Arc<Sealer>,
    ) -> anyhow::Result<Self> {
        let limits = SessionLimits::default();
        Self::open_with_limits(url, max_connections, engine, sealer, limits).await
    }

    /// `open`, with the sessions' limits from the configuration.
    pub async fn open_with_limits(
        url: &str,
        max_connections: usize,
        engine: EngineConfig,
        sealer: Arc<Sealer>,
        limits: SessionLimits,
    ) -> anyhow::Result<Self> {
        let connect::Connections {
            pool,
            listening,
            tls,
        } = connect::connect(url, max_connections, &limits)?;
        let ids = schema::migrate(&pool, &sealer).await?;
        let outbound = Arc::new(Outbound::default());
        let hub = Arc::new(ChangeHub::new(Some(outbound.clone())));
        let (stop, stopped) = watch::channel(());
        let store = PostgresStore {
            pool: pool.clone(),
            engine,
            hub: hub.clone(),
            _stop: stop,
            lease_clock: LeaseClock::Database,
            limits,
            sealer,
            ids,
        };
        let node = random_hex_id("", 8);
        tokio::spawn(listen::notify(
            pool,
            outbound,
            node.clone(),
            stopped.clone(),
        ));
        tokio::spawn(listen::listen(listening, tls, hub, node, stopped));
        Ok(store)
    }

    /// Takes and judges leases on `clock` (tests pass `LeaseClock::Caller`).
    pub fn with_lease_clock(mut self, clock: LeaseClock) -> Self {
        self.lease_clock = clock;
        self
    }

    async fn client(&self) -> PgResult<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }
}

#[async_trait]
impl Store for PostgresStore {
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
        rooms::upsert_room(self, project_id, room_id, custom, settings).await
    }

    async fn room(&self, project_id: &str, room_id: &str) -> StoreResult<Option<Room>> {
        reads::room(self, project_id, room_id).await
    }

    async fn ingest(&self, project_id: &str, signals: Vec<Signal>) -> StoreResult<IngestReport> {
        transact!(self, |tx| meeting::ingest(
            &tx,
            &self.engine,
            project_id,
            &signals
        ))
        .map(|ingested| self.hub.announce_ingest(ingested))
    }

    async fn end_session(
        &self,
        project_id: &str,
        room_id: &str,
        end: SessionEnd,
    ) -> StoreResult<SessionRecord> {
        transact!(self, |tx| meeting::end_session(
            &tx, project_id, room_id, end
        ))
        .inspect(|_| self.hub.announce(Changes::DUE))
    }

    async fn fire_due_timers(&self, now: Timestamp) -> StoreResult<usize> {
        let mut emitted = 0;
        for _ in 0..TIMER_BATCH {
            let fired = transact!(self, |tx| timers::fire_one_timer(&tx, now));
            match fired.inspect(|count| {
                let count = count.unwrap_or_default();
                self.hub.announce(Changes::DUE.if_any(count))
            })? {
                Some(count) => emitted += count,
                None => break,
            }
        }
        Ok(emitted)
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
        transact!(self, |tx| endpoints::update(
            &tx,
            &self.sealer,
            project_id,
            endpoint_id,
            &patch
        ))
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
        transact!(self, |tx| endpoints::delete(&tx, project_id, endpoint_id))
            .inspect(|_| self.hub.announce(Changes::ENDPOINTS))
    }

    async fn room_secret(&self, project_id: &str) -> StoreResult<String> {
        transact!(self, |tx| endpoints::room_secret(
            &tx,
            &self.sealer,
            project_id
        ))
    }

    async fn rotate_room_secret(
        &self,
        project_id: &str,
        secret: String,
        previous_until: Timestamp,
    ) -> StoreResult<String> {
        rooms::rotate_room_secret(self, project_id, secret, previous_until).await
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
        let client = self.client().await?;
        let batch = delivery::lease(&client, &requests, now, lease_until, self.lease_clock).await?;
        Ok(LeaseBatch {
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
        transact!(self, |tx| outcomes::record_outcomes(
            &tx,
            &outcomes,
            auto_disable_after_ms,
            lease_until,
            self.lease_clock,
            &self.limits
        ))
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

    /// Never releases: another node may hold them. Leases expire and are taken over.
    async fn release_leases(&self, _now: Timestamp) -> StoreResult<usize> {
        Ok(0)
    }

    async fn delete_finished(&self, cutoff: Timestamp, limit: usize) -> StoreResult<usize> {
        let client = self.client().await?;
        Ok(delivery::delete_finished(&client, cutoff, limit).await?)
    }

    fn shared(&self) -> bool {
        true
    }

    fn changes(&self) -> ChangeFeed {
        self.hub.subscribe()
    }

    fn public_ids(&self) -> &PublicIds {
        &self.ids
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
        transact!(self, |tx| async {
            endpoints::get(&*tx, &self.sealer, project_id, endpoint_id)
                .await?
                .ok_or(StoreError::NotFound("endpoint"))?;
            requeue::recover(&tx, endpoint_id, since, Timestamp::now()).await
        })
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
        transact!(self, |tx| requeue::lease_for_resend(
            &tx,
            project_id,
            position,
            lease_until,
            self.lease_clock
        ))
        .map(named(&self.ids))
    }

    async fn enqueue_test(
        &self,
        project_id: &str,
        endpoint_id: &str,
        webhook_type: &str,
        payload: Vec<u8>,
    ) -> StoreResult<String> {
        transact!(self, |tx| requeue::enqueue_test(
            &tx,
            project_id,
            endpoint_id,
            webhook_type,
            &payload,
            Timestamp::now()
        ))
        .map(|position| self.ids.message_id(position))
        .inspect(|_| self.hub.announce(Changes::DUE))
    }

    async fn ping(&self) -> StoreResult<()> {
        let answer: PgResult<()> = async {
            self.client().await?.simple_query("SELECT 1").await?;
            Ok(())
        }
        .await;
        answer.map_err(|e| StoreError::Unavailable(format!("PostgreSQL: {e}")))
    }
}
