//! A `Store` that delegates to a real one and lets a test reach into three dispatch calls:
//! it counts endpoint reloads, can delete an endpoint right after an outcome promoted one
//! of its messages, as a DELETE racing the outcome writer would, and can hold back the
//! answer of a lease, as a node frozen right after taking it would.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use meetinghooks::domain::endpoint::{Endpoint, EndpointPatch};
use meetinghooks::domain::signal::Signal;
use meetinghooks::domain::timestamp::Timestamp;
use meetinghooks::engine::SessionEnd;
use meetinghooks::sources::Source;
use meetinghooks::store::changes::ChangeFeed;
use meetinghooks::store::*;

pub struct CountingStore {
    pub inner: Arc<dyn Store>,
    /// Calls of `delivery_targets` that returned.
    pub reloads: AtomicUsize,
    /// Set: the next outcome that promotes a message deletes its endpoint (project, endpoint).
    delete_on_promotion: Mutex<Option<(String, String)>>,
    /// The message promoted for the deleted endpoint.
    pub orphaned: Mutex<Option<Leased>>,
    /// Set: the next lease that takes a message answers this much later.
    pause_after_lease: Mutex<Option<std::time::Duration>>,
    /// The lease held back, and when it was asked for.
    pub paused: Mutex<Option<(Leased, std::time::Instant)>>,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(CountingStore {
            inner,
            reloads: AtomicUsize::new(0),
            delete_on_promotion: Mutex::new(None),
            orphaned: Mutex::new(None),
            pause_after_lease: Mutex::new(None),
            paused: Mutex::new(None),
        })
    }

    pub fn delete_on_promotion(&self, project_id: &str, endpoint_id: &str) {
        *self.delete_on_promotion.lock().unwrap() =
            Some((project_id.to_owned(), endpoint_id.to_owned()));
    }

    pub fn pause_after_lease(&self, pause: std::time::Duration) {
        *self.pause_after_lease.lock().unwrap() = Some(pause);
    }

    pub fn reloads(&self) -> usize {
        self.reloads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl keys::KeyStore for CountingStore {
    async fn key_by_hash(&self, key_hash: [u8; 32]) -> StoreResult<Option<keys::KeyMatch>> {
        self.inner.key_by_hash(key_hash).await
    }
    async fn api_keys(&self, project_id: &str) -> StoreResult<Vec<keys::ApiKeyRecord>> {
        self.inner.api_keys(project_id).await
    }
    async fn create_api_key(
        &self,
        project_id: &str,
        key: keys::NewApiKey,
    ) -> StoreResult<keys::ApiKeyRecord> {
        self.inner.create_api_key(project_id, key).await
    }
    async fn revoke_api_key(&self, project_id: &str, key_id: &str) -> StoreResult<()> {
        self.inner.revoke_api_key(project_id, key_id).await
    }
    async fn touch_api_key(&self, key_id: &str, prefix: &str, at: Timestamp) -> StoreResult<()> {
        self.inner.touch_api_key(key_id, prefix, at).await
    }
}

#[async_trait]
impl pruning::Pruning for CountingStore {
    async fn forget_signals(&self, cutoff: Timestamp, limit: usize) -> StoreResult<usize> {
        self.inner.forget_signals(cutoff, limit).await
    }
}

#[async_trait]
impl Store for CountingStore {
    async fn delivery_targets(&self) -> StoreResult<Vec<Endpoint>> {
        let targets = self.inner.delivery_targets().await;
        self.reloads.fetch_add(1, Ordering::SeqCst);
        targets
    }

    async fn record_outcomes(
        &self,
        outcomes: Vec<AttemptOutcome>,
        auto_disable_after_ms: i64,
        lease_until: Option<Timestamp>,
    ) -> StoreResult<Recorded> {
        let recorded = self
            .inner
            .record_outcomes(outcomes, auto_disable_after_ms, lease_until)
            .await?;
        let target = self.delete_on_promotion.lock().unwrap().clone();
        if let Some((project_id, endpoint_id)) = target {
            if let Some(leased) = recorded
                .promoted
                .iter()
                .find(|l| l.endpoint_id == endpoint_id)
            {
                *self.delete_on_promotion.lock().unwrap() = None;
                self.inner
                    .delete_endpoint(&project_id, &endpoint_id)
                    .await?;
                // The store announces the deletion: the dispatcher reloads its endpoints before
                // it sees the promoted message.
                let before = self.reloads();
                crate::helpers::eventually("the dispatcher reloads its endpoints", || {
                    let reloaded = self.reloads() > before;
                    async move { reloaded }
                })
                .await;
                *self.orphaned.lock().unwrap() = Some(leased.clone());
            }
        }
        Ok(recorded)
    }

    fn shared(&self) -> bool {
        self.inner.shared()
    }

    fn changes(&self) -> ChangeFeed {
        self.inner.changes()
    }

    fn public_ids(&self) -> &meetinghooks::domain::public_ids::PublicIds {
        self.inner.public_ids()
    }

    async fn create_project(&self, name: &str, key_hash: [u8; 32]) -> StoreResult<Project> {
        self.inner.create_project(name, key_hash).await
    }

    async fn ensure_project_key(&self, name: &str, key_hash: [u8; 32]) -> StoreResult<Project> {
        self.inner.ensure_project_key(name, key_hash).await
    }

    async fn project_by_key(&self, key_hash: [u8; 32]) -> StoreResult<Option<Project>> {
        self.inner.project_by_key(key_hash).await
    }

    async fn upsert_room(
        &self,
        project_id: &str,
        room_id: &str,
        custom: bool,
        settings: RoomSettings,
    ) -> StoreResult<(Room, bool)> {
        self.inner
            .upsert_room(project_id, room_id, custom, settings)
            .await
    }

    async fn room(&self, project_id: &str, room_id: &str) -> StoreResult<Option<Room>> {
        self.inner.room(project_id, room_id).await
    }

    async fn ingest(&self, project_id: &str, signals: Vec<Signal>) -> StoreResult<IngestReport> {
        self.inner.ingest(project_id, signals).await
    }

    async fn end_session(
        &self,
        project_id: &str,
        room_id: &str,
        end: SessionEnd,
    ) -> StoreResult<SessionRecord> {
        self.inner.end_session(project_id, room_id, end).await
    }

    async fn fire_due_timers(&self, now: Timestamp) -> StoreResult<usize> {
        self.inner.fire_due_timers(now).await
    }

    async fn next_timer(&self) -> StoreResult<Option<Timestamp>> {
        self.inner.next_timer().await
    }

    async fn sessions(
        &self,
        project_id: &str,
        room_id: &str,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<SessionRecord>> {
        self.inner
            .sessions(project_id, room_id, before, limit)
            .await
    }

    async fn session(
        &self,
        project_id: &str,
        session_id: &str,
    ) -> StoreResult<Option<SessionRecord>> {
        self.inner.session(project_id, session_id).await
    }

    async fn events(&self, project_id: &str, query: EventQuery) -> StoreResult<Page<StoredEvent>> {
        self.inner.events(project_id, query).await
    }

    async fn create_endpoint(&self, endpoint: Endpoint) -> StoreResult<Endpoint> {
        self.inner.create_endpoint(endpoint).await
    }

    async fn endpoints(&self, project_id: &str) -> StoreResult<Vec<Endpoint>> {
        self.inner.endpoints(project_id).await
    }

    async fn endpoint(&self, project_id: &str, endpoint_id: &str) -> StoreResult<Option<Endpoint>> {
        self.inner.endpoint(project_id, endpoint_id).await
    }

    async fn update_endpoint(
        &self,
        project_id: &str,
        endpoint_id: &str,
        patch: EndpointPatch,
    ) -> StoreResult<Endpoint> {
        self.inner
            .update_endpoint(project_id, endpoint_id, patch)
            .await
    }

    async fn rotate_endpoint_secret(
        &self,
        project_id: &str,
        endpoint_id: &str,
        secret: String,
        previous_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Endpoint> {
        self.inner
            .rotate_endpoint_secret(project_id, endpoint_id, secret, previous_until, now)
            .await
    }

    async fn delete_endpoint(&self, project_id: &str, endpoint_id: &str) -> StoreResult<bool> {
        self.inner.delete_endpoint(project_id, endpoint_id).await
    }

    async fn room_secret(&self, project_id: &str) -> StoreResult<String> {
        self.inner.room_secret(project_id).await
    }

    async fn rotate_room_secret(
        &self,
        project_id: &str,
        secret: String,
        previous_until: Timestamp,
    ) -> StoreResult<String> {
        self.inner
            .rotate_room_secret(project_id, secret, previous_until)
            .await
    }

    async fn lease(
        &self,
        requests: Vec<LeaseRequest>,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<LeaseBatch> {
        let asked_at = std::time::Instant::now();
        let batch = self.inner.lease(requests, now, lease_until).await?;
        if let Some(first) = batch.leased.first() {
            let pause = self.pause_after_lease.lock().unwrap().take();
            if let Some(pause) = pause {
                *self.paused.lock().unwrap() = Some((first.clone(), asked_at));
                // The fault itself (a frozen node), not a wait for a condition.
                tokio::time::sleep(pause).await;
            }
        }
        Ok(batch)
    }

    async fn release_leases(&self, now: Timestamp) -> StoreResult<usize> {
        self.inner.release_leases(now).await
    }

    async fn delete_finished(&self, cutoff: Timestamp, limit: usize) -> StoreResult<usize> {
        self.inner.delete_finished(cutoff, limit).await
    }

    async fn queue_depth(&self) -> StoreResult<Vec<(MessageStatus, u64)>> {
        self.inner.queue_depth().await
    }

    async fn messages(
        &self,
        project_id: &str,
        query: MessageQuery,
    ) -> StoreResult<Page<MessageRecord>> {
        self.inner.messages(project_id, query).await
    }

    async fn message(
        &self,
        project_id: &str,
        message_id: &str,
    ) -> StoreResult<Option<MessageRecord>> {
        self.inner.message(project_id, message_id).await
    }

    async fn attempts(
        &self,
        project_id: &str,
        message_id: &str,
        after: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<AttemptRecord>> {
        self.inner
            .attempts(project_id, message_id, after, limit)
            .await
    }

    async fn recover(
        &self,
        project_id: &str,
        endpoint_id: &str,
        since: Timestamp,
    ) -> StoreResult<usize> {
        self.inner.recover(project_id, endpoint_id, since).await
    }

    async fn lease_for_resend(
        &self,
        project_id: &str,
        message_id: &str,
        lease_until: Timestamp,
    ) -> StoreResult<Leased> {
        self.inner
            .lease_for_resend(project_id, message_id, lease_until)
            .await
    }

    async fn enqueue_test(
        &self,
        project_id: &str,
        endpoint_id: &str,
        webhook_type: &str,
        payload: Vec<u8>,
    ) -> StoreResult<String> {
        self.inner
            .enqueue_test(project_id, endpoint_id, webhook_type, payload)
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
}

#[async_trait]
impl SourceStore for CountingStore {
    async fn create_source(&self, source: Source) -> StoreResult<Source> {
        self.inner.create_source(source).await
    }

    async fn sources(&self, project_id: &str) -> StoreResult<Vec<Source>> {
        self.inner.sources(project_id).await
    }

    async fn source(&self, project_id: &str, source_id: &str) -> StoreResult<Option<Source>> {
        self.inner.source(project_id, source_id).await
    }

    async fn source_by_api_key(&self, api_key: &str) -> StoreResult<Option<Source>> {
        self.inner.source_by_api_key(api_key).await
    }

    async fn delete_source(&self, project_id: &str, source_id: &str) -> StoreResult<bool> {
        self.inner.delete_source(project_id, source_id).await
    }
}

#[async_trait]
impl rsa_keys::RsaKeyStore for CountingStore {
    async fn rsa_keys(&self, project_id: &str) -> StoreResult<Option<rsa_keys::ProjectRsaKeys>> {
        self.inner.rsa_keys(project_id).await
    }

    async fn set_rsa_key_if_absent(
        &self,
        project_id: &str,
        private_pem: String,
    ) -> StoreResult<rsa_keys::ProjectRsaKeys> {
        self.inner
            .set_rsa_key_if_absent(project_id, private_pem)
            .await
    }

    async fn rotate_rsa_key(
        &self,
        project_id: &str,
        next_pem: String,
        from: Timestamp,
        now: Timestamp,
    ) -> StoreResult<rsa_keys::ProjectRsaKeys> {
        self.inner
            .rotate_rsa_key(project_id, next_pem, from, now)
            .await
    }

    async fn all_rsa_keys(&self) -> StoreResult<Vec<rsa_keys::ProjectRsaKeys>> {
        self.inner.all_rsa_keys().await
    }

    async fn projects_without_rsa_key(&self) -> StoreResult<Vec<String>> {
        self.inner.projects_without_rsa_key().await
    }
}

#[async_trait]
impl listings::Listings for CountingStore {
    async fn session_page(
        &self,
        project_id: &str,
        room_id: Option<&str>,
        page: listings::PageRequest,
    ) -> StoreResult<listings::NumberedPage<SessionRecord>> {
        self.inner.session_page(project_id, room_id, page).await
    }

    async fn room_page(
        &self,
        project_id: &str,
        page: listings::PageRequest,
    ) -> StoreResult<listings::NumberedPage<Room>> {
        self.inner.room_page(project_id, page).await
    }

    async fn deactivate_room(
        &self,
        project_id: &str,
        room_id: &str,
        now: Timestamp,
    ) -> StoreResult<Room> {
        self.inner.deactivate_room(project_id, room_id, now).await
    }

    async fn auto_close_candidates(&self) -> StoreResult<Vec<listings::AutoCloseCandidate>> {
        self.inner.auto_close_candidates().await
    }
}

#[async_trait]
impl DashboardStore for CountingStore {
    async fn attempt_log(
        &self,
        project_id: &str,
        query: dashboard::AttemptLogQuery,
    ) -> StoreResult<Vec<dashboard::AttemptLogEntry>> {
        self.inner.attempt_log(project_id, query).await
    }

    async fn project_queue(&self, project_id: &str) -> StoreResult<Vec<(MessageStatus, u64)>> {
        self.inner.project_queue(project_id).await
    }

    async fn filtered_messages(
        &self,
        project_id: &str,
        filter: dashboard::MessageFilter,
    ) -> StoreResult<Page<MessageRecord>> {
        self.inner.filtered_messages(project_id, filter).await
    }

    async fn event_by_id(
        &self,
        project_id: &str,
        event_id: &str,
    ) -> StoreResult<Option<StoredEvent>> {
        self.inner.event_by_id(project_id, event_id).await
    }

    async fn room_summaries(
        &self,
        project_id: &str,
        limit: usize,
    ) -> StoreResult<Vec<dashboard::RoomSummary>> {
        self.inner.room_summaries(project_id, limit).await
    }

    async fn log_heads(&self, project_id: &str) -> StoreResult<dashboard::LogHeads> {
        self.inner.log_heads(project_id).await
    }
}
