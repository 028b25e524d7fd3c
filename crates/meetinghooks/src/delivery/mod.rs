//! The dispatcher: leases due messages in batches, sends them with per-endpoint and global
//! limits, and writes outcomes back in batches.
//!
//! Fairness comes from leasing per endpoint: each round asks the store for at most as many due
//! messages as an endpoint has free slots (and rate-limit tokens), so a slow or black-holed
//! endpoint can only ever hold its own slots.

pub mod attempt;
pub mod failure_log;
pub mod rate;
pub mod schedule;
pub mod ssrf;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch, Notify};

use crate::domain::endpoint::Endpoint;
use crate::domain::timestamp::Timestamp;
use crate::store::changes::ChangeFeed;
use crate::store::{
    AttemptOutcome, AttemptRecord, LeaseRequest, Leased, MessageStatus, NextStep, Store, StoreError,
};
use failure_log::FailureLog;
use rate::TokenBucket;
use ssrf::SsrfPolicy;

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub retry_schedule: Vec<Duration>,
    /// ±fraction applied to each retry delay.
    pub jitter: f64,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub endpoint_concurrency: usize,
    pub global_concurrency: usize,
    pub auto_disable_after: Duration,
    /// How long a message stays leased to this node; at least twice the request timeout.
    pub lease_duration: Duration,
    pub shutdown_grace: Duration,
    /// Safety net: endpoints are reloaded this often even without an announced change.
    pub endpoint_refresh: Duration,
    /// Safety net on a shared store: an idle node looks for work this often.
    pub shared_poll: Duration,
}

/// Longest idle sleep: due times and rate-limit tokens are looked at again at least this often.
const IDLE_POLL: Duration = Duration::from_secs(1);
const OUTCOME_BATCH: usize = 1024;

enum ToWriter {
    // Boxed: an outcome is large, a flush request small.
    Outcome(Box<AttemptOutcome>),
    Flush(oneshot::Sender<()>),
}

/// One endpoint's runtime state in this process.
struct Lane {
    endpoint: Arc<Endpoint>,
    in_flight: Arc<AtomicUsize>,
    bucket: Option<TokenBucket>,
    /// `None`: unknown, probe the store. `Some(t)`: nothing due before `t`.
    next_due: Option<Option<Timestamp>>,
}

pub struct Dispatcher {
    store: Arc<dyn Store>,
    config: DeliveryConfig,
    client: reqwest::Client,
    policy: Arc<SsrfPolicy>,
    /// What the store announces after its commits: messages due, endpoints changed.
    feed: std::sync::Mutex<Option<ChangeFeed>>,
    /// A slot was freed.
    capacity: Arc<Notify>,
    /// Reload the endpoints before the next round (announced, or an unknown endpoint seen).
    endpoints_changed: std::sync::atomic::AtomicBool,
    in_flight: Arc<AtomicUsize>,
    rounds: AtomicUsize,
    to_writer: mpsc::UnboundedSender<ToWriter>,
    writer_input: std::sync::Mutex<Option<mpsc::UnboundedReceiver<ToWriter>>>,
    /// Messages the outcome writer leased on promotion, for the run loop to send.
    promoted: mpsc::UnboundedSender<Vec<Leased>>,
    promoted_input: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Vec<Leased>>>>,
    /// Set once shutdown began: no more leasing on promotion.
    stopping: std::sync::atomic::AtomicBool,
    /// Rate-limits the failure warnings per endpoint.
    failure_log: std::sync::Mutex<FailureLog>,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        config: DeliveryConfig,
        policy: Arc<SsrfPolicy>,
    ) -> anyhow::Result<Arc<Self>> {
        let client = ssrf::client_builder(policy.clone())
            .connect_timeout(config.connect_timeout)
            .pool_max_idle_per_host(config.global_concurrency)
            .tcp_nodelay(true)
            .build()?;
        let (to_writer, writer_input) = mpsc::unbounded_channel();
        let (promoted, promoted_input) = mpsc::unbounded_channel();
        // Subscribed now, so nothing committed between here and `run` goes unheard.
        let feed = std::sync::Mutex::new(Some(store.changes()));
        Ok(Arc::new(Dispatcher {
            store,
            feed,
            config,
            client,
            policy,
            capacity: Arc::new(Notify::new()),
            endpoints_changed: true.into(),
            in_flight: Arc::default(),
            rounds: AtomicUsize::new(0),
            to_writer,
            writer_input: std::sync::Mutex::new(Some(writer_input)),
            promoted,
            promoted_input: std::sync::Mutex::new(Some(promoted_input)),
            stopping: false.into(),
            failure_log: std::sync::Mutex::new(FailureLog::new(failure_log::WARN_INTERVAL)),
        }))
    }

    pub fn policy(&self) -> &SsrfPolicy {
        &self.policy
    }

    /// Runs until `stop` flips, then lets in-flight attempts finish within the shutdown grace.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let writer_input = self.writer_input.lock().expect("writer input").take();
        let writer = writer_input.map(|input| tokio::spawn(self.clone().write_outcomes(input)));
        let mut promoted = self
            .promoted_input
            .lock()
            .expect("promoted input")
            .take()
            .expect("run is called once");
        let mut feed = self
            .feed
            .lock()
            .expect("feed")
            .take()
            .expect("run is called once");
        let mut lanes: HashMap<String, Lane> = HashMap::new();
        let mut orphans: Vec<Leased> = Vec::new();
        let mut refreshed = Instant::now();
        let mut polled = Instant::now();
        // Heard while sleeping (`changed` marks the announcement seen).
        let mut due_heard = false;
        loop {
            if *stop.borrow() {
                break;
            }
            // Marked seen before the round, so a change announced during it starts the next.
            if feed.endpoints.has_changed().unwrap_or(false) {
                feed.endpoints.borrow_and_update();
                self.endpoints_changed.store(true, AtomicOrdering::Release);
            }
            let mut due_changed = std::mem::take(&mut due_heard);
            if feed.due.has_changed().unwrap_or(false) {
                feed.due.borrow_and_update();
                due_changed = true;
            }
            // Safety net on a shared store: a node may die between its commit and its NOTIFY.
            if self.store.shared() && polled.elapsed() >= self.config.shared_poll {
                polled = Instant::now();
                due_changed = true;
            }
            if due_changed {
                for lane in lanes.values_mut() {
                    lane.next_due = None;
                }
            }
            if self.endpoints_changed.swap(false, AtomicOrdering::AcqRel)
                || refreshed.elapsed() > self.config.endpoint_refresh
            {
                match self.store.delivery_targets().await {
                    Ok(endpoints) => {
                        refresh_lanes(&mut lanes, endpoints);
                        self.failure_log()
                            .retain(|endpoint_id| lanes.contains_key(endpoint_id));
                        refreshed = Instant::now();
                    }
                    Err(e) => tracing::warn!(error = %e, "loading endpoints failed"),
                }
            }
            let waiting = std::mem::take(&mut orphans);
            self.send_promoted(&lanes, waiting, &mut orphans);
            while let Ok(batch) = promoted.try_recv() {
                self.send_promoted(&lanes, batch, &mut orphans);
            }
            let (leased_any, sleep) = match self.lease_round(&mut lanes).await {
                Ok(result) => result,
                Err(e) => {
                    tracing::warn!(error = %e, "leasing failed");
                    (false, IDLE_POLL)
                }
            };
            if leased_any {
                tokio::task::yield_now().await;
                continue;
            }
            let sleep = match self.store.shared() {
                true => sleep.min(self.config.shared_poll.saturating_sub(polled.elapsed())),
                false => sleep,
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                Ok(()) = feed.due.changed() => due_heard = true,
                Ok(()) = feed.endpoints.changed() => {
                    self.endpoints_changed.store(true, AtomicOrdering::Release);
                }
                _ = self.capacity.notified() => {}
                Some(batch) = promoted.recv() => self.send_promoted(&lanes, batch, &mut orphans),
                _ = stop.changed() => {}
            }
        }
        self.stopping.store(true, AtomicOrdering::Release);
        self.drain().await;
        if let Some(writer) = writer {
            writer.abort();
        }
    }

    /// Sends messages leased on promotion. They may briefly take a lane past its limit,
    /// by at most the attempts that just finished there.
    /// A message for an endpoint this loop does not know yet waits in `orphans` until the
    /// next refresh of the endpoint list.
    fn send_promoted(
        &self,
        lanes: &HashMap<String, Lane>,
        batch: Vec<Leased>,
        orphans: &mut Vec<Leased>,
    ) {
        for leased in batch {
            match lanes.get(&leased.endpoint_id) {
                Some(lane) => {
                    self.spawn_attempt(lane.endpoint.clone(), lane.in_flight.clone(), leased)
                }
                None => {
                    self.endpoints_changed.store(true, AtomicOrdering::Release);
                    orphans.push(leased);
                }
            }
        }
    }

    /// One leasing round. Returns whether anything was leased, and how long to sleep otherwise.
    async fn lease_round(
        &self,
        lanes: &mut HashMap<String, Lane>,
    ) -> Result<(bool, Duration), StoreError> {
        let now = Timestamp::now();
        let clock = Instant::now();
        let mut global_free = self
            .config
            .global_concurrency
            .saturating_sub(self.in_flight.load(AtomicOrdering::Acquire));
        let mut requests = Vec::new();
        let mut sleep = IDLE_POLL;
        // Start each round at a different endpoint, so a saturated global limit is shared fairly.
        let mut ids: Vec<&String> = lanes.keys().collect();
        ids.sort_unstable();
        if !ids.is_empty() {
            let start = self.rounds.fetch_add(1, AtomicOrdering::Relaxed) % ids.len();
            ids.rotate_left(start);
        }
        let ids: Vec<String> = ids.into_iter().cloned().collect();
        for id in ids {
            let lane = lanes.get_mut(&id).expect("id taken from the map");
            if lane.endpoint.disabled || global_free == 0 {
                continue;
            }
            match lane.next_due {
                Some(None) => continue,
                Some(Some(due)) if due > now => {
                    sleep = sleep.min(Duration::from_millis((due.0 - now.0) as u64));
                    continue;
                }
                _ => {}
            }
            let mut free = self
                .config
                .endpoint_concurrency
                .saturating_sub(lane.in_flight.load(AtomicOrdering::Acquire));
            if let Some(bucket) = &mut lane.bucket {
                let tokens = bucket.available(clock);
                if tokens == 0 {
                    sleep = sleep.min(bucket.wait_for_one(clock));
                }
                free = free.min(tokens);
            }
            let max = free.min(global_free);
            if max > 0 {
                global_free -= max;
                requests.push(LeaseRequest {
                    endpoint_id: id,
                    max,
                });
            }
        }
        if requests.is_empty() {
            return Ok((false, sleep));
        }
        let lease_until = now.plus_millis(self.lease_duration().as_millis() as i64);
        let batch = self.store.lease(requests, now, lease_until).await?;
        for (endpoint_id, next_due) in batch.next_due {
            if let Some(lane) = lanes.get_mut(&endpoint_id) {
                lane.next_due = Some(next_due);
                if let Some(due) = next_due {
                    sleep = sleep.min(Duration::from_millis((due.0 - now.0).max(0) as u64));
                }
            }
        }
        let leased_any = !batch.leased.is_empty();
        for leased in batch.leased {
            let Some(lane) = lanes.get_mut(&leased.endpoint_id) else {
                continue;
            };
            if let Some(bucket) = &mut lane.bucket {
                bucket.take(1);
            }
            self.spawn_attempt(lane.endpoint.clone(), lane.in_flight.clone(), leased);
        }
        Ok((leased_any, sleep))
    }

    fn lease_duration(&self) -> Duration {
        self.config.lease_duration
    }

    /// A lease must outlive the request plus the time its outcome can wait to be written, so
    /// no message is ever in flight twice: no attempt may take more than half the lease.
    fn timeout_for(&self, endpoint: &Endpoint) -> Duration {
        endpoint
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(self.config.request_timeout)
            .min(self.config.lease_duration / 2)
    }

    fn spawn_attempt(
        &self,
        endpoint: Arc<Endpoint>,
        lane_in_flight: Arc<AtomicUsize>,
        leased: Leased,
    ) {
        lane_in_flight.fetch_add(1, AtomicOrdering::AcqRel);
        self.in_flight.fetch_add(1, AtomicOrdering::AcqRel);
        let (client, policy, config) = (
            self.client.clone(),
            self.policy.clone(),
            self.config.clone(),
        );
        let timeout = self.timeout_for(&endpoint);
        let (to_writer, capacity, global) = (
            self.to_writer.clone(),
            self.capacity.clone(),
            self.in_flight.clone(),
        );
        tokio::spawn(async move {
            let attempt = attempt::send(&client, &policy, &endpoint, &leased, timeout).await;
            let outcome = decide(&config, &endpoint, &leased, &attempt);
            let _ = to_writer.send(ToWriter::Outcome(Box::new(outcome)));
            lane_in_flight.fetch_sub(1, AtomicOrdering::AcqRel);
            global.fetch_sub(1, AtomicOrdering::AcqRel);
            capacity.notify_one();
        });
    }

    /// Writes outcomes in batches; every waiting outcome shares one transaction.
    async fn write_outcomes(self: Arc<Self>, mut input: mpsc::UnboundedReceiver<ToWriter>) {
        let auto_disable = self.config.auto_disable_after.as_millis() as i64;
        let mut flushes = Vec::new();
        let mut batch = Vec::new();
        while let Some(first) = input.recv().await {
            let mut next = Some(first);
            while let Some(item) = next.take() {
                match item {
                    ToWriter::Outcome(o) => batch.push(*o),
                    ToWriter::Flush(done) => flushes.push(done),
                }
                if batch.len() < OUTCOME_BATCH {
                    next = input.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                // Until it is written, the message stays leased and is retried after the lease,
                // so a failed write delays but never loses.
                let mut tries = 0;
                let mut disabled_any = false;
                let first_try = Instant::now();
                loop {
                    // While running, a meeting's next message is leased in the same transaction
                    // and handed straight to the sender; from now, however long the retries took.
                    let lease_until = (!self.stopping.load(AtomicOrdering::Acquire)).then(|| {
                        Timestamp::now().plus_millis(self.lease_duration().as_millis() as i64)
                    });
                    let e = match self
                        .store
                        .record_outcomes(batch.clone(), auto_disable, lease_until)
                        .await
                    {
                        Ok(recorded) => {
                            self.failure_log().report(&batch, &recorded.disabled);
                            disabled_any = !recorded.disabled.is_empty();
                            if !recorded.promoted.is_empty() {
                                let _ = self.promoted.send(recorded.promoted);
                            }
                            break;
                        }
                        Err(e) => e,
                    };
                    tries += 1;
                    tracing::warn!(error = %e, tries, "writing outcomes failed");
                    // On the way down, the messages stay leased and are delivered again after
                    // the restart. Running, keep trying until the leases are over: after that
                    // the outcomes no longer count, and the messages are delivered again.
                    let leases_over = first_try.elapsed() > self.lease_duration();
                    if (self.stopping.load(AtomicOrdering::Acquire) && tries >= 3) || leases_over {
                        if leases_over {
                            tracing::error!(
                                outcomes = batch.len(),
                                "outcomes could not be written within a lease; their messages \
                                 will be delivered again"
                            );
                        }
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis((100 * tries).min(5_000))).await;
                }
                if disabled_any || tries > 0 {
                    self.endpoints_changed.store(true, AtomicOrdering::Release);
                }
                batch.clear();
            }
            for done in flushes.drain(..) {
                let _ = done.send(());
            }
        }
    }

    /// Waits for in-flight attempts (up to the shutdown grace), then flushes their outcomes.
    async fn drain(&self) {
        let deadline = tokio::time::Instant::now() + self.config.shutdown_grace;
        while self.in_flight.load(AtomicOrdering::Acquire) > 0 {
            if tokio::time::timeout_at(deadline, self.capacity.notified())
                .await
                .is_err()
            {
                tracing::warn!(
                    in_flight = self.in_flight.load(AtomicOrdering::Acquire),
                    "shutdown grace over; unfinished attempts stay leased and are retried"
                );
                break;
            }
        }
        let (done, flushed) = oneshot::channel();
        if self.to_writer.send(ToWriter::Flush(done)).is_ok() {
            let _ = tokio::time::timeout_at(deadline + Duration::from_secs(5), flushed).await;
        }
    }

    /// A manual resend: one attempt now with the same webhook-id, recorded like any other.
    /// It runs in its own task, so a caller that goes away cannot strand the lease.
    pub async fn resend(
        self: &Arc<Self>,
        project_id: &str,
        message_id: &str,
    ) -> Result<AttemptRecord, StoreError> {
        let (this, project_id, message_id) =
            (self.clone(), project_id.to_owned(), message_id.to_owned());
        tokio::spawn(async move { this.resend_now(&project_id, &message_id).await })
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }

    async fn resend_now(
        &self,
        project_id: &str,
        message_id: &str,
    ) -> Result<AttemptRecord, StoreError> {
        let endpoint_of = self
            .store
            .message(project_id, message_id)
            .await?
            .ok_or(StoreError::NotFound("message"))?;
        let endpoint = self
            .store
            .endpoint(project_id, &endpoint_of.endpoint_id)
            .await?
            .ok_or(StoreError::NotFound("endpoint"))?;
        let lease_until = Timestamp::now().plus_millis(self.lease_duration().as_millis() as i64);
        let leased = self
            .store
            .lease_for_resend(project_id, message_id, lease_until)
            .await?;
        let attempt = attempt::send(
            &self.client,
            &self.policy,
            &endpoint,
            &leased,
            self.timeout_for(&endpoint),
        )
        .await;
        let outcome = decide(&self.config, &endpoint, &leased, &attempt);
        let record = AttemptRecord {
            id: 0,
            attempted_at: outcome.attempted_at,
            duration_ms: outcome.duration_ms,
            status_code: outcome.status_code,
            error_kind: outcome.error_kind.map(str::to_owned),
            response_body: outcome.response_body.clone(),
        };
        let outcomes = vec![outcome];
        let recorded = self
            .store
            .record_outcomes(
                outcomes.clone(),
                self.config.auto_disable_after.as_millis() as i64,
                None,
            )
            .await?;
        self.failure_log().report(&outcomes, &recorded.disabled);
        Ok(record)
    }

    fn failure_log(&self) -> std::sync::MutexGuard<'_, FailureLog> {
        // The log holds only counters: one a panicking thread left half-updated is still usable.
        self.failure_log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn refresh_lanes(lanes: &mut HashMap<String, Lane>, endpoints: Vec<Endpoint>) {
    let mut fresh = HashMap::with_capacity(endpoints.len());
    for endpoint in endpoints {
        let id = endpoint.id.clone();
        let lane = match lanes.remove(&id) {
            Some(mut lane) => {
                if lane.endpoint.rate_limit != endpoint.rate_limit {
                    lane.bucket = endpoint.rate_limit.map(TokenBucket::new);
                }
                lane.endpoint = Arc::new(endpoint);
                lane.next_due = None;
                lane
            }
            None => Lane {
                bucket: endpoint.rate_limit.map(TokenBucket::new),
                endpoint: Arc::new(endpoint),
                in_flight: Arc::default(),
                next_due: None,
            },
        };
        fresh.insert(id, lane);
    }
    *lanes = fresh;
}

/// Turns an attempt into the message's next step, and counts it.
fn decide(
    config: &DeliveryConfig,
    endpoint: &Endpoint,
    leased: &Leased,
    attempt: &attempt::Attempt,
) -> AttemptOutcome {
    let (status_code, error_kind, body, retry_after) = match &attempt.result {
        attempt::Result::Answered {
            status,
            body,
            retry_after,
        } => (Some(*status), None, body.clone(), *retry_after),
        attempt::Result::NoAnswer { kind, detail, .. } => {
            (None, Some(*kind), truncate(detail), None)
        }
    };
    let label = match (status_code, error_kind) {
        (Some(s), _) => ["1xx", "2xx", "3xx", "4xx", "5xx"]
            .get((s / 100).saturating_sub(1) as usize)
            .copied()
            .unwrap_or("other"),
        (None, Some(kind)) => kind,
        (None, None) => "unknown",
    };
    metrics::counter!("meetinghooks_attempts_total", "outcome" => label).increment(1);
    let finished = attempt
        .started_at
        .plus_millis(attempt.duration.as_millis() as i64);
    let next = match status_code {
        Some(200..=299) => {
            let latency = (finished.0 - leased.event_created_at.0).max(0) as f64 / 1000.0;
            metrics::histogram!("meetinghooks_delivery_latency_seconds").record(latency);
            NextStep::Succeeded
        }
        Some(410) => NextStep::Gone("the endpoint answered 410 Gone".into()),
        _ => match leased.resend_of {
            Some(previous) if previous != MessageStatus::Pending => NextStep::Restore(previous),
            _ => {
                let schedule = endpoint.retry_schedule.as_ref().map(|s| {
                    s.iter()
                        .map(|ms| Duration::from_millis(*ms))
                        .collect::<Vec<_>>()
                });
                let schedule = schedule.as_deref().unwrap_or(&config.retry_schedule);
                schedule::after_failure(
                    leased.attempts + 1,
                    schedule,
                    config.jitter,
                    retry_after,
                    finished,
                )
            }
        },
    };
    AttemptOutcome {
        message_id: leased.message_id.clone(),
        lease_until: leased.lease_until,
        endpoint_id: leased.endpoint_id.clone(),
        room_id: leased.room_id.clone(),
        ordered: leased.ordered,
        attempt: leased.attempts + 1,
        attempted_at: attempt.started_at,
        duration_ms: attempt.duration.as_millis() as u64,
        status_code,
        error_kind,
        failure: attempt.result.failure(),
        response_body: body,
        next,
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(1024).collect()
}
