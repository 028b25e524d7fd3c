//! The dispatcher: leases due messages in batches and sends them with per-endpoint and global
//! limits; `writer` records their outcomes in batches, `resend` sends one message on request.
//!
//! Fairness comes from leasing per endpoint: each round asks the store for at most as many due
//! messages as an endpoint has free slots (and rate-limit tokens), so a slow or black-holed
//! endpoint can only ever hold its own slots.

pub mod attempt;
mod decide;
pub mod failure_log;
mod lanes;
pub mod rate;
mod resend;
pub mod schedule;
mod signing_keys;
pub mod ssrf;
mod writer;

use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch, Notify};

use crate::domain::endpoint::Endpoint;
use crate::domain::timestamp::Timestamp;
use crate::outbox::fence::{self, Start};
use crate::store::changes::{ChangeFeed, DueFor};
use crate::store::{AttemptOutcome, LeaseRequest, Store, StoreError};
use decide::decide;
use failure_log::FailureLog;
use lanes::{Held, Lanes, NextDue, Orphans};
use rate::{Allowance, RateLimits};
use schedule::saturating_millis;
use ssrf::SsrfPolicy;
use writer::{PromoteBy, ToWriter};

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

/// Promotion batches waiting for the run loop (each up to one outcome batch).
const PROMOTED_BATCHES: usize = 64;

/// Longest idle sleep: due times and rate-limit tokens are looked at again at least this often.
const IDLE_POLL: Duration = Duration::from_secs(1);

pub struct Dispatcher {
    store: Arc<dyn Store>,
    config: DeliveryConfig,
    client: reqwest::Client,
    policy: Arc<SsrfPolicy>,
    /// What the store announces after its commits: messages due, endpoints changed.
    feed: std::sync::Mutex<Option<ChangeFeed>>,
    /// A slot was freed.
    capacity: Arc<Notify>,
    /// Endpoints whose outcomes were just written: their lanes may have a message due (a
    /// retry, a promotion by round), so the next round asks for them again.
    touched: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Reload the endpoints before the next round (announced, or an unknown endpoint seen).
    endpoints_changed: std::sync::atomic::AtomicBool,
    /// Token buckets of rate-limited endpoints, shared by every kind of send.
    rate_limits: RateLimits,
    in_flight: Arc<AtomicUsize>,
    /// Outcomes on their way to be written: at most one per slot, so a sender whose outcome
    /// finds it full keeps its slot until there is room (back-pressure on leasing).
    to_writer: mpsc::Sender<ToWriter>,
    writer_input: std::sync::Mutex<Option<mpsc::Receiver<ToWriter>>>,
    /// Messages the outcome writer leased on promotion, for the run loop to send; a full
    /// channel makes the writer wait for the loop.
    promoted: mpsc::Sender<Vec<Held>>,
    promoted_input: std::sync::Mutex<Option<mpsc::Receiver<Vec<Held>>>>,
    /// Set once shutdown began: no more leasing on promotion.
    stopping: std::sync::atomic::AtomicBool,
    /// Rate-limits the failure warnings per endpoint.
    failure_log: std::sync::Mutex<FailureLog>,
    /// Outcome writes in progress at once, first tries and retries alike, so a batch split
    /// by meeting cannot take every database connection.
    outcome_writes: tokio::sync::Semaphore,
    /// Projects' parsed RSA keys, for `videosdk-signature`.
    signing_keys: Arc<signing_keys::SigningKeys>,
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
        let (to_writer, writer_input) = mpsc::channel(config.global_concurrency.max(1));
        let (promoted, promoted_input) = mpsc::channel(PROMOTED_BATCHES);
        // Subscribed now, so nothing committed between here and `run` goes unheard.
        let feed = std::sync::Mutex::new(Some(store.changes()));
        Ok(Arc::new(Dispatcher {
            store,
            feed,
            config,
            client,
            policy,
            capacity: Arc::new(Notify::new()),
            touched: Default::default(),
            endpoints_changed: true.into(),
            rate_limits: RateLimits::default(),
            in_flight: Arc::default(),
            to_writer,
            writer_input: std::sync::Mutex::new(Some(writer_input)),
            promoted,
            promoted_input: std::sync::Mutex::new(Some(promoted_input)),
            stopping: false.into(),
            failure_log: std::sync::Mutex::new(FailureLog::new(failure_log::WARN_INTERVAL)),
            outcome_writes: tokio::sync::Semaphore::new(writer::WRITES_AT_ONCE),
            signing_keys: Arc::default(),
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
        let mut lanes = Lanes::default();
        let mut orphans = Orphans::default();
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
            if due_changed {
                // An ingest here names the endpoints it fanned out to; anything else (another
                // node, a recover, a fired timer) may concern every endpoint.
                match feed.take_due_for() {
                    DueFor::Endpoints(ids) => ids.iter().for_each(|id| lanes.wake(id)),
                    DueFor::Every => lanes.wake_all(),
                }
            }
            // Safety net on a shared store: a node may die between its commit and its NOTIFY.
            if self.store.shared() && polled.elapsed() >= self.config.shared_poll {
                polled = Instant::now();
                lanes.wake_all();
            }
            for endpoint_id in std::mem::take(&mut *self.touched.lock().expect("touched")) {
                lanes.wake(&endpoint_id);
            }
            if self.endpoints_changed.swap(false, AtomicOrdering::AcqRel)
                || orphans.want_reload()
                || refreshed.elapsed() > self.config.endpoint_refresh
            {
                match self.store.delivery_targets().await {
                    Ok(endpoints) => {
                        if let Err(e) = self.signing_keys.reload(&*self.store).await {
                            tracing::warn!(error = %e, "loading RSA keys failed");
                        }
                        lanes.refresh(endpoints);
                        self.failure_log()
                            .retain(|endpoint_id| lanes.contains_key(endpoint_id));
                        self.rate_limits.retain(|id| lanes.contains_key(id));
                        refreshed = Instant::now();
                        let known = orphans.after_reload(&lanes);
                        self.send_promoted(&lanes, known, &mut orphans);
                    }
                    Err(e) => tracing::warn!(error = %e, "loading endpoints failed"),
                }
            }
            while let Ok(batch) = promoted.try_recv() {
                self.send_promoted(&lanes, batch, &mut orphans);
            }
            let RoundResult {
                leased_any,
                again,
                sleep,
            } = match self.lease_round(&mut lanes).await {
                Ok(round) => round,
                Err(e) => {
                    tracing::warn!(error = %e, "leasing failed");
                    RoundResult {
                        leased_any: false,
                        again: false,
                        sleep: IDLE_POLL,
                    }
                }
            };
            if leased_any || again {
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
        // Nothing more is sent: a writer waiting to hand on promotions must not hold up the
        // drain. Those messages stay leased and are delivered after the restart.
        promoted.close();
        self.drain().await;
        if let Some(writer) = writer {
            writer.abort();
        }
    }

    /// Sends messages leased on promotion. They may briefly take a lane past its limit,
    /// by at most the attempts that just finished there.
    /// A message for an endpoint this loop does not know yet waits in `orphans` for one reload
    /// of the endpoint list.
    /// Marks the lanes of these outcomes' endpoints for the next round and wakes the loop.
    fn touch(&self, outcomes: &[AttemptOutcome]) {
        let mut touched = self.touched.lock().expect("touched");
        touched.extend(outcomes.iter().map(|o| o.endpoint_id.clone()));
        drop(touched);
        self.capacity.notify_one();
    }

    fn send_promoted(&self, lanes: &Lanes, batch: Vec<Held>, orphans: &mut Orphans) {
        for held in batch {
            match lanes.get(&held.leased.endpoint_id) {
                Some(lane) => {
                    // Rate-limited endpoints are promoted by the round (`PromoteBy`); one whose
                    // limit was just set may still come here, and pays its token too.
                    let endpoint = &lane.endpoint;
                    let _ =
                        self.rate_limits
                            .reserve(&endpoint.id, endpoint.rate_limit, Instant::now());
                    self.spawn_attempt(lane.endpoint.clone(), lane.in_flight.clone(), held)
                }
                None => orphans.push(held),
            }
        }
    }

    /// One leasing round.
    async fn lease_round(&self, lanes: &mut Lanes) -> Result<RoundResult, StoreError> {
        let now = Timestamp::now();
        let clock = Instant::now();
        let mut global_free = self
            .config
            .global_concurrency
            .saturating_sub(self.in_flight.load(AtomicOrdering::Acquire));
        let mut requests = Vec::new();
        let mut sleep = lanes
            .due_by(now)
            .map_or(IDLE_POLL, |due| IDLE_POLL.min(until(now, due)));
        // Lanes that may have work but found the global budget spent by the lanes before them.
        let mut left_out = false;
        // Only the lanes that may have work are visited, starting after the last one asked.
        let mut disabled = Vec::new();
        for id in lanes.to_ask() {
            let lane = lanes.get(id).expect("lanes to ask exist");
            if lane.endpoint.disabled {
                disabled.push(id.clone());
                continue;
            }
            if global_free == 0 {
                left_out = true;
                break;
            }
            let mut free = self
                .config
                .endpoint_concurrency
                .saturating_sub(lane.in_flight.load(AtomicOrdering::Acquire));
            let endpoint = &lane.endpoint;
            match self
                .rate_limits
                .allowance(&endpoint.id, endpoint.rate_limit, clock)
            {
                Allowance::Unlimited => {}
                Allowance::Tokens { now: tokens, wait } => {
                    if tokens == 0 {
                        sleep = sleep.min(wait);
                    }
                    free = free.min(tokens);
                }
            }
            let max = free.min(global_free);
            if max > 0 {
                global_free -= max;
                requests.push(LeaseRequest {
                    endpoint_id: id.clone(),
                    max,
                });
            }
        }
        // A disabled endpoint has nothing due until it is enabled again (which wakes it).
        for id in disabled {
            lanes.set_next_due(&id, NextDue::Idle);
        }
        if let Some(last) = requests.last() {
            lanes.asked_up_to(&last.endpoint_id);
        }
        if requests.is_empty() {
            return Ok(RoundResult {
                leased_any: false,
                again: false,
                sleep,
            });
        }
        let claimed: usize = requests.iter().map(|r| r.max).sum();
        let lease_until = now.plus_millis(saturating_millis(self.lease_duration()));
        // Before asking: whatever the request waits for counts against the leases.
        let asked_at = Instant::now();
        let batch = self.store.lease(requests, now, lease_until).await?;
        for (endpoint_id, next_due) in batch.next_due {
            if lanes.contains_key(&endpoint_id) {
                lanes.set_next_due(&endpoint_id, NextDue::from(next_due));
                if let Some(due) = next_due {
                    sleep = sleep.min(until(now, due));
                }
            }
        }
        let leased_any = !batch.leased.is_empty();
        // Lanes asked for more than they had spent budget that lanes left out could use: with
        // a thousand endpoints, woken lanes that turn out empty used to take the whole budget
        // and the loop then slept a second (`IDLE_POLL`) with messages due. The lanes asked
        // now know their next due time, so the next round asks others.
        let again = left_out && batch.leased.len() < claimed;
        for leased in batch.leased {
            let Some(lane) = lanes.get(&leased.endpoint_id) else {
                continue;
            };
            let endpoint = &lane.endpoint;
            self.rate_limits
                .take(&endpoint.id, endpoint.rate_limit, 1, clock);
            let held = Held::from_store(leased, asked_at);
            self.spawn_attempt(lane.endpoint.clone(), lane.in_flight.clone(), held);
        }
        Ok(RoundResult {
            leased_any,
            again,
            sleep,
        })
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

    fn spawn_attempt(&self, endpoint: Arc<Endpoint>, lane_in_flight: Arc<AtomicUsize>, held: Held) {
        lane_in_flight.fetch_add(1, AtomicOrdering::AcqRel);
        self.in_flight.fetch_add(1, AtomicOrdering::AcqRel);
        let (client, policy, config) = (
            self.client.clone(),
            self.policy.clone(),
            self.config.clone(),
        );
        let timeout = self.timeout_for(&endpoint);
        let promote = PromoteBy::for_endpoint(&endpoint);
        let (store, keys) = (self.store.clone(), self.signing_keys.clone());
        let (to_writer, capacity, global) = (
            self.to_writer.clone(),
            self.capacity.clone(),
            self.in_flight.clone(),
        );
        tokio::spawn(async move {
            let Held { leased, until } = held;
            // Fencing: started only while the lease outlasts the whole request, so it ends
            // before another node may take the message over. Given up, it writes no outcome:
            // the message is taken again when the lease is over.
            match fence::may_start(until, Instant::now(), timeout) {
                Start::Go => {
                    let signer = keys.signer(&*store, &endpoint, Timestamp::now()).await;
                    let target = attempt::Target::new(&endpoint, signer);
                    let attempt = attempt::send(&client, &policy, &target, &leased, timeout).await;
                    let outcome = decide(&config, &endpoint, &leased, &attempt);
                    let _ = to_writer
                        .send(ToWriter::Outcome {
                            outcome: Box::new(outcome),
                            promote,
                        })
                        .await;
                }
                Start::GiveUp { left } => {
                    metrics::counter!("meetinghooks_attempts_given_up_total").increment(1);
                    tracing::warn!(
                        message_id = %leased.message_id,
                        left_ms = left.as_millis() as u64,
                        "lease too short for the request's timeout; attempt given up"
                    );
                }
            }
            lane_in_flight.fetch_sub(1, AtomicOrdering::AcqRel);
            global.fetch_sub(1, AtomicOrdering::AcqRel);
            capacity.notify_one();
        });
    }

    fn failure_log(&self) -> std::sync::MutexGuard<'_, FailureLog> {
        // The log holds only counters: one a panicking thread left half-updated is still usable.
        self.failure_log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What a leasing round did.
struct RoundResult {
    leased_any: bool,
    /// Lanes that may have work were left out of this round: run another at once.
    again: bool,
    /// How long to sleep when nothing was leased.
    sleep: Duration,
}

/// How long from `now` until `due`; zero when it is past.
fn until(now: Timestamp, due: Timestamp) -> Duration {
    Duration::from_millis(u64::try_from(due.0.saturating_sub(now.0)).unwrap_or(0))
}
