//! PostgreSQL store: shared by any number of nodes. A meeting's room row is its lock; leases
//! are rows that expire; migrations run under an advisory lock.

mod delivery;
mod endpoints;
mod error;
mod listen;
mod meeting;
mod messages;
mod outcomes;
mod requeue;
mod rows;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::watch;
use tokio_postgres::NoTls;

use super::changes::{ChangeFeed, ChangeHub, Changes, Outbound};
use super::{
    project_name_taken, AttemptOutcome, AttemptRecord, EventQuery, IngestReport, LeaseBatch,
    LeaseRequest, Leased, MessageQuery, MessageRecord, MessageStatus, Page, Project, Recorded,
    Room, RoomWebhook, SessionRecord, Store, StoreError, StoreResult, StoredEvent,
};
use crate::domain::endpoint::{Endpoint, EndpointPatch};
use crate::domain::ids::random_hex_id;
use crate::domain::signal::Signal;
use crate::domain::timestamp::Timestamp;
use crate::engine::EngineConfig;

use error::{PgError, PgResult};
use rows::{
    event_from_row, project_from_row, room_from_row, session_records, settled_position,
    ROOM_COLUMNS,
};

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_last_error_kind.sql"),
    include_str!("migrations/0003_signals_per_meeting.sql"),
];
/// Any constant works, as long as every node uses the same one.
const MIGRATION_LOCK: i64 = 0x6d68_6d69_6772;
const TIMER_BATCH: usize = 256;
/// A transaction that lost a deadlock or serialization race is run again this many times.
const MAX_RETRIES: u32 = 8;
/// How long a request waits for the database before it is answered 503.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(5);
/// Far above any transaction's own pauses, far below a lease.
const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(30);

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

pub use delivery::LeaseClock;

pub struct PostgresStore {
    pool: Pool,
    engine: EngineConfig,
    /// Announced after each commit, here and (through `listen`) to the other nodes.
    hub: Arc<ChangeHub>,
    /// Dropped with the store, which ends its notifying and listening tasks.
    _stop: watch::Sender<()>,
    lease_clock: LeaseClock,
}

impl PostgresStore {
    /// Connects to a `postgres://` URL with up to `max_connections`, and runs migrations.
    pub async fn open(
        url: &str,
        max_connections: usize,
        engine: EngineConfig,
    ) -> anyhow::Result<Self> {
        let mut config = tokio_postgres::Config::from_str(url)?;
        config.connect_timeout(DATABASE_TIMEOUT);
        // A node that freezes or loses the network mid-transaction must not hold meeting locks
        // for long: the server ends such a session, and dead peers are noticed.
        let ours = format!(
            "-c idle_in_transaction_session_timeout={}",
            IDLE_IN_TRANSACTION.as_millis()
        );
        // Added to any `options` the URL carries, which keep their say.
        let options = match config.get_options() {
            Some(theirs) => format!("{ours} {theirs}"),
            None => ours,
        };
        config.options(options);
        config.keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("meetinghooks");
        }
        let listening = config.clone();
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(DATABASE_TIMEOUT))
            .create_timeout(Some(DATABASE_TIMEOUT))
            .recycle_timeout(Some(DATABASE_TIMEOUT))
            .build()?;
        let outbound = Arc::new(Outbound::default());
        let hub = Arc::new(ChangeHub::new(Some(outbound.clone())));
        let (stop, stopped) = watch::channel(());
        let store = PostgresStore {
            pool: pool.clone(),
            engine,
            hub: hub.clone(),
            _stop: stop,
            lease_clock: LeaseClock::Database,
        };
        store.migrate().await?;
        let node = random_hex_id("", 8);
        tokio::spawn(listen::notify(
            pool,
            outbound,
            node.clone(),
            stopped.clone(),
        ));
        tokio::spawn(listen::listen(listening, hub, node, stopped));
        Ok(store)
    }

    /// Applies missing migrations; nodes starting together take turns on an advisory lock.
    async fn migrate(&self) -> anyhow::Result<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await?;
        let applied: i32 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )
            .await?
            .get(0);
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[&(index as i32 + 1), &Timestamp::now().0],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
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
        let project = Project {
            id: random_hex_id("prj_", 12),
            name: name.to_owned(),
        };
        let now = Timestamp::now().0;
        let created = transact!(self, |tx| async {
            let inserted = tx
                .execute(
                    "INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)
                     ON CONFLICT (name) DO NOTHING",
                    &[&project.id, &project.name, &now],
                )
                .await?;
            if inserted == 0 {
                return PgResult::Ok(None);
            }
            tx.execute(
                "INSERT INTO api_keys (key_hash, project_id, created_at) VALUES ($1, $2, $3)",
                &[&&key_hash[..], &project.id, &now],
            )
            .await?;
            PgResult::Ok(Some(project.clone()))
        })?;
        created.ok_or_else(|| project_name_taken(name))
    }

    async fn ensure_project_key(&self, name: &str, key_hash: [u8; 32]) -> StoreResult<Project> {
        let now = Timestamp::now().0;
        let id = random_hex_id("prj_", 12);
        transact!(self, |tx| async {
            tx.execute(
                "INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING",
                &[&id, &name, &now],
            )
            .await?;
            let project = project_from_row(
                &tx.query_one("SELECT id, name FROM projects WHERE name = $1", &[&name])
                    .await?,
            );
            tx.execute(
                "INSERT INTO api_keys (key_hash, project_id, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&&key_hash[..], &project.id, &now],
            )
            .await?;
            PgResult::Ok(project)
        })
    }

    async fn project_by_key(&self, key_hash: [u8; 32]) -> StoreResult<Option<Project>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT p.id, p.name FROM api_keys k JOIN projects p ON p.id = k.project_id
                 WHERE k.key_hash = $1",
            )
            .await
            .map_err(PgError::from)?;
        let row = client
            .query_opt(&statement, &[&&key_hash[..]])
            .await
            .map_err(PgError::from)?;
        Ok(row.as_ref().map(project_from_row))
    }

    async fn upsert_room(
        &self,
        project_id: &str,
        room_id: &str,
        custom: bool,
        webhook: Option<RoomWebhook>,
    ) -> StoreResult<(Room, bool)> {
        let webhook_json = webhook
            .as_ref()
            .map(|w| serde_json::to_string(w).expect("webhook serializes"));
        transact!(self, |tx| async {
            let now = Timestamp::now();
            // Lock order: the project (its room secret) before the room.
            if webhook.is_some() {
                endpoints::room_secret(&tx, project_id).await?;
            }
            let created = tx
                .execute(
                    "INSERT INTO rooms (project_id, room_id, custom, webhook, state, created_at)
                     VALUES ($1, $2, $3, $4, '{}', $5) ON CONFLICT DO NOTHING",
                    &[&project_id, &room_id, &custom, &webhook_json, &now.0],
                )
                .await?
                == 1;
            if !created && webhook_json.is_some() {
                tx.execute(
                    "UPDATE rooms SET webhook = $3 WHERE project_id = $1 AND room_id = $2",
                    &[&project_id, &room_id, &webhook_json],
                )
                .await?;
            }
            if let Some(webhook) = &webhook {
                endpoints::upsert_room_webhook(&tx, project_id, room_id, webhook, now).await?;
            }
            let row = tx
                .query_one(
                    &format!(
                        "SELECT {ROOM_COLUMNS} FROM rooms WHERE project_id = $1 AND room_id = $2"
                    ),
                    &[&project_id, &room_id],
                )
                .await?;
            PgResult::Ok((room_from_row(&row), created))
        })
        .inspect(|_| {
            let announce = Changes::ENDPOINTS.if_any(usize::from(webhook.is_some()));
            self.hub.announce(announce)
        })
    }

    async fn room(&self, project_id: &str, room_id: &str) -> StoreResult<Option<Room>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE project_id = $1 AND room_id = $2"),
                &[&project_id, &room_id],
            )
            .await
            .map_err(PgError::from)?;
        Ok(row.as_ref().map(room_from_row))
    }

    async fn ingest(&self, project_id: &str, signals: Vec<Signal>) -> StoreResult<IngestReport> {
        transact!(self, |tx| meeting::ingest(
            &tx,
            &self.engine,
            project_id,
            &signals
        ))
        .inspect(|report| self.hub.announce(Changes::of_ingest(report)))
    }

    async fn end_session(
        &self,
        project_id: &str,
        room_id: &str,
        now: Timestamp,
    ) -> StoreResult<SessionRecord> {
        transact!(self, |tx| meeting::end_session(
            &tx, project_id, room_id, now
        ))
        .inspect(|_| self.hub.announce(Changes::DUE))
    }

    async fn fire_due_timers(&self, now: Timestamp) -> StoreResult<usize> {
        let mut emitted = 0;
        for _ in 0..TIMER_BATCH {
            let fired = transact!(self, |tx| meeting::fire_one_timer(&tx, now));
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
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT MIN(next_timer_at) FROM rooms WHERE next_timer_at IS NOT NULL",
                &[],
            )
            .await
            .map_err(PgError::from)?;
        Ok(row.get::<_, Option<i64>>(0).map(Timestamp))
    }

    async fn sessions(
        &self,
        project_id: &str,
        room_id: &str,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<SessionRecord>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT room_id, doc, position FROM sessions
                 WHERE project_id = $1 AND room_id = $2 AND position < $3
                 ORDER BY position DESC LIMIT $4",
                &[
                    &project_id,
                    &room_id,
                    &before.unwrap_or(i64::MAX),
                    &(limit as i64 + 1),
                ],
            )
            .await
            .map_err(PgError::from)?;
        let records = session_records(&**client, project_id, rows).await?;
        Ok(Page::from_rows(records, limit))
    }

    async fn session(
        &self,
        project_id: &str,
        session_id: &str,
    ) -> StoreResult<Option<SessionRecord>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT room_id, doc, position FROM sessions
                 WHERE project_id = $1 AND session_id = $2",
                &[&project_id, &session_id],
            )
            .await
            .map_err(PgError::from)?;
        let records = session_records(&**client, project_id, rows).await?;
        Ok(records.into_iter().next().map(|(record, _)| record))
    }

    async fn events(&self, project_id: &str, query: EventQuery) -> StoreResult<Page<StoredEvent>> {
        let client = self.client().await?;
        let settled = settled_position(&**client, "events").await?;
        let rows = client
            .query(
                "SELECT position, room_id, session_id, sequence, webhook_type, payload, created_at
                 FROM events
                 WHERE project_id = $1 AND position > $2 AND position <= $7
                   AND ($3::TEXT IS NULL OR room_id = $3)
                   AND ($4::TEXT IS NULL OR session_id = $4)
                   AND ($5::TEXT IS NULL OR webhook_type = $5)
                 ORDER BY position LIMIT $6",
                &[
                    &project_id,
                    &query.after.unwrap_or(0),
                    &query.meeting_id,
                    &query.session_id,
                    &query.webhook_type,
                    &(query.limit as i64 + 1),
                    &settled,
                ],
            )
            .await
            .map_err(PgError::from)?;
        let events = rows
            .iter()
            .map(|row| {
                let event = event_from_row(row);
                let position = event.position;
                (event, position)
            })
            .collect();
        Ok(Page::from_rows(events, query.limit))
    }

    async fn create_endpoint(&self, endpoint: Endpoint) -> StoreResult<Endpoint> {
        let client = self.client().await?;
        endpoints::insert(&**client, &endpoint).await?;
        self.hub.announce(Changes::ENDPOINTS);
        Ok(endpoint)
    }

    async fn endpoints(&self, project_id: &str) -> StoreResult<Vec<Endpoint>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {} FROM endpoints WHERE project_id = $1 ORDER BY created_at, id",
                    endpoints::COLUMNS
                ),
                &[&project_id],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows.iter().map(endpoints::from_row).collect())
    }

    async fn endpoint(&self, project_id: &str, endpoint_id: &str) -> StoreResult<Option<Endpoint>> {
        let client = self.client().await?;
        Ok(endpoints::get(&**client, project_id, endpoint_id).await?)
    }

    async fn update_endpoint(
        &self,
        project_id: &str,
        endpoint_id: &str,
        patch: EndpointPatch,
    ) -> StoreResult<Endpoint> {
        transact!(self, |tx| endpoints::update(
            &tx,
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
        transact!(self, |tx| async {
            endpoints::rotate_secret(&tx, project_id, endpoint_id, &secret, previous_until, now)
                .await?
                .ok_or(PgError::Store(StoreError::NotFound("endpoint")))
        })
        // The dispatcher signs with the secrets it loaded: it must load the new one.
        .inspect(|_| self.hub.announce(Changes::ENDPOINTS))
    }

    async fn delete_endpoint(&self, project_id: &str, endpoint_id: &str) -> StoreResult<bool> {
        transact!(self, |tx| async {
            let deleted = tx
                .execute(
                    "DELETE FROM endpoints WHERE project_id = $1 AND id = $2 AND room_id IS NULL",
                    &[&project_id, &endpoint_id],
                )
                .await?;
            if deleted > 0 {
                tx.execute(
                    "DELETE FROM attempts WHERE message_position IN
                     (SELECT position FROM messages WHERE endpoint_id = $1)",
                    &[&endpoint_id],
                )
                .await?;
                tx.execute(
                    "DELETE FROM messages WHERE endpoint_id = $1",
                    &[&endpoint_id],
                )
                .await?;
            }
            PgResult::Ok(deleted > 0)
        })
        .inspect(|_| self.hub.announce(Changes::ENDPOINTS))
    }

    async fn room_secret(&self, project_id: &str) -> StoreResult<String> {
        transact!(self, |tx| endpoints::room_secret(&tx, project_id))
    }

    async fn rotate_room_secret(
        &self,
        project_id: &str,
        secret: String,
        previous_until: Timestamp,
    ) -> StoreResult<String> {
        transact!(self, |tx| async {
            let previous = endpoints::room_secret(&tx, project_id).await?;
            tx.execute(
                "UPDATE projects SET room_secret = $2, room_secret_previous = $3,
                 room_secret_previous_until = $4 WHERE id = $1",
                &[&project_id, &secret, &previous, &previous_until.0],
            )
            .await?;
            tx.execute(
                "UPDATE endpoints SET secret = $2, secret_previous = $3, secret_previous_until = $4
                 WHERE project_id = $1 AND room_id IS NOT NULL",
                &[&project_id, &secret, &previous, &previous_until.0],
            )
            .await?;
            PgResult::Ok(secret.clone())
        })
        .inspect(|_| self.hub.announce(Changes::ENDPOINTS))
    }

    async fn delivery_targets(&self) -> StoreResult<Vec<Endpoint>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {} FROM endpoints", endpoints::COLUMNS),
                &[],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows.iter().map(endpoints::from_row).collect())
    }

    async fn lease(
        &self,
        requests: Vec<LeaseRequest>,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<LeaseBatch> {
        let client = self.client().await?;
        Ok(delivery::lease(&client, &requests, now, lease_until, self.lease_clock).await?)
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
            self.lease_clock
        ))
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

    async fn queue_depth(&self) -> StoreResult<Vec<(MessageStatus, u64)>> {
        let client = self.client().await?;
        Ok(messages::queue_depth(&**client).await?)
    }

    async fn messages(
        &self,
        project_id: &str,
        query: MessageQuery,
    ) -> StoreResult<Page<MessageRecord>> {
        let client = self.client().await?;
        Ok(messages::messages(&**client, project_id, &query).await?)
    }

    async fn message(
        &self,
        project_id: &str,
        message_id: &str,
    ) -> StoreResult<Option<MessageRecord>> {
        let client = self.client().await?;
        Ok(messages::message(&**client, project_id, message_id).await?)
    }

    async fn attempts(
        &self,
        project_id: &str,
        message_id: &str,
        after: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<AttemptRecord>> {
        let client = self.client().await?;
        if messages::message(&**client, project_id, message_id)
            .await?
            .is_none()
        {
            return Err(StoreError::NotFound("message"));
        }
        Ok(messages::attempts(&**client, message_id, after, limit).await?)
    }

    async fn recover(
        &self,
        project_id: &str,
        endpoint_id: &str,
        since: Timestamp,
    ) -> StoreResult<usize> {
        transact!(self, |tx| async {
            endpoints::get(&*tx, project_id, endpoint_id)
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
        transact!(self, |tx| requeue::lease_for_resend(
            &tx,
            project_id,
            message_id,
            lease_until,
            self.lease_clock
        ))
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
