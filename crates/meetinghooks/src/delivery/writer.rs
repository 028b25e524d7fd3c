//! The outcome writer: collects attempt outcomes from the senders and records them in
//! batches, hands on the messages their commits promote, and flushes on shutdown.

use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::lanes::Held;
use super::schedule::saturating_millis;
use super::Dispatcher;
use crate::domain::endpoint::Endpoint;
use crate::domain::timestamp::Timestamp;
use crate::store::{AttemptOutcome, StoreError};

const OUTCOME_BATCH: usize = 1024;
/// Outcome batches written at once.
const WRITERS: usize = 4;
/// Store calls writing outcomes at once (a batch split by meeting makes many).
pub(super) const WRITES_AT_ONCE: usize = 8;

pub(super) enum ToWriter {
    // Boxed: an outcome is large, a flush request small.
    Outcome {
        outcome: Box<AttemptOutcome>,
        promote: PromoteBy,
    },
    Flush(oneshot::Sender<()>),
}

/// Whether writing outcomes calls for a reload of the endpoints (one was disabled, or the
/// store was in trouble).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Written {
    Done,
    Reload,
}

/// How the next message of a queue an outcome frees is handed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PromoteBy {
    /// Leased in the outcome's transaction and sent at once.
    Lease,
    /// Made due now; the leasing round sends it, taking a rate-limit token.
    Round,
}

impl PromoteBy {
    /// A rate-limited endpoint's next message must pass the leasing round, which takes tokens.
    pub(super) fn for_endpoint(endpoint: &Endpoint) -> Self {
        match endpoint.rate_limit {
            Some(_) => PromoteBy::Round,
            None => PromoteBy::Lease,
        }
    }
}

impl Dispatcher {
    /// Writes outcomes in batches; every waiting outcome shares one transaction (two when the
    /// batch holds outcomes of rate-limited endpoints, whose next messages are not leased).
    /// Up to `WRITERS` batches are written at once, so one blocked batch does not hold back
    /// the outcomes that come after it.
    pub(super) async fn write_outcomes(self: Arc<Self>, mut input: mpsc::Receiver<ToWriter>) {
        let gate = Arc::new(Semaphore::new(WRITERS));
        let mut running = JoinSet::new();
        let mut flushes = Vec::new();
        let mut by_lease = Vec::new();
        let mut by_round = Vec::new();
        while let Some(first) = input.recv().await {
            let mut next = Some(first);
            while let Some(item) = next.take() {
                match item {
                    ToWriter::Outcome {
                        outcome,
                        promote: PromoteBy::Lease,
                    } => by_lease.push(*outcome),
                    ToWriter::Outcome {
                        outcome,
                        promote: PromoteBy::Round,
                    } => by_round.push(*outcome),
                    ToWriter::Flush(done) => flushes.push(done),
                }
                if by_lease.len() + by_round.len() < OUTCOME_BATCH {
                    next = input.try_recv().ok();
                }
            }
            for (batch, promote) in [
                (std::mem::take(&mut by_lease), PromoteBy::Lease),
                (std::mem::take(&mut by_round), PromoteBy::Round),
            ] {
                if batch.is_empty() {
                    continue;
                }
                let permit = gate.clone().acquire_owned().await.expect("never closed");
                running.spawn(self.clone().write_batch(batch, promote, permit));
            }
            while running.try_join_next().is_some() {}
            if !flushes.is_empty() {
                while running.join_next().await.is_some() {}
                for done in flushes.drain(..) {
                    let _ = done.send(());
                }
            }
        }
    }

    /// Writes one batch: whole, once; if that fails (a meeting's lock held too long, the
    /// store in trouble), meeting by meeting, each retried on its own while its leases last.
    async fn write_batch(
        self: Arc<Self>,
        batch: Vec<AttemptOutcome>,
        promote: PromoteBy,
        permit: OwnedSemaphorePermit,
    ) {
        let written = match self.record_once(&batch, promote).await {
            Ok(written) => written,
            Err(e) => {
                tracing::warn!(error = %e, outcomes = batch.len(), "writing outcomes failed; again by meeting");
                drop(permit);
                let mut meetings = JoinSet::new();
                for group in by_meeting(batch) {
                    let this = self.clone();
                    meetings.spawn(async move { this.record_batch(&group, promote).await });
                }
                while meetings.join_next().await.is_some() {}
                // The store was in trouble: its view of the endpoints may be stale too.
                Written::Reload
            }
        };
        if written == Written::Reload {
            self.endpoints_changed.store(true, AtomicOrdering::Release);
        }
    }

    /// One try at writing a batch; promoted messages go to the run loop.
    async fn record_once(
        &self,
        batch: &[AttemptOutcome],
        promote: PromoteBy,
    ) -> Result<Written, StoreError> {
        let auto_disable = saturating_millis(self.config.auto_disable_after);
        // While running, a meeting's next message is leased in the same transaction and
        // handed straight to the sender; from now, however long the retries took.
        let lease_until = (promote == PromoteBy::Lease
            && !self.stopping.load(AtomicOrdering::Acquire))
        .then(|| Timestamp::now().plus_millis(saturating_millis(self.lease_duration())));
        let _turn = self.outcome_writes.acquire().await.expect("never closed");
        // Before asking: a wait for locks or a pause counts against promoted leases.
        let asked_at = Instant::now();
        let recorded = self
            .store
            .record_outcomes(batch.to_vec(), auto_disable, lease_until)
            .await?;
        self.touch(batch);
        self.failure_log().report(batch, &recorded.disabled);
        if !recorded.promoted.is_empty() {
            let held = recorded.promoted.into_iter();
            let held = held.map(|leased| Held::from_store(leased, asked_at));
            let _ = self.promoted.send(held.collect()).await;
        }
        Ok(match recorded.disabled.is_empty() {
            true => Written::Done,
            false => Written::Reload,
        })
    }

    /// Writes one batch of outcomes, retrying while the leases last.
    async fn record_batch(&self, batch: &[AttemptOutcome], promote: PromoteBy) -> Written {
        // Until it is written, the message stays leased and is retried after the lease,
        // so a failed write delays but never loses.
        let mut tries = 0;
        let first_try = Instant::now();
        loop {
            let e = match self.record_once(batch, promote).await {
                Ok(written) if tries == 0 => return written,
                Ok(_) => return Written::Reload,
                Err(e) => e,
            };
            tries += 1;
            tracing::warn!(error = %e, tries, "writing outcomes failed");
            // On the way down, the messages stay leased and are delivered again after the
            // restart. Running, keep trying until the leases are over: after that the outcomes
            // no longer count, and the messages are delivered again.
            let leases_over = first_try.elapsed() > self.lease_duration();
            if (self.stopping.load(AtomicOrdering::Acquire) && tries >= 3) || leases_over {
                if leases_over {
                    tracing::error!(
                        outcomes = batch.len(),
                        "outcomes could not be written within a lease; their messages will be \
                         delivered again"
                    );
                }
                return Written::Reload;
            }
            tokio::time::sleep(Duration::from_millis((100 * tries).min(5_000))).await;
        }
    }

    /// Waits for in-flight attempts (up to the shutdown grace), then flushes their outcomes.
    pub(super) async fn drain(&self) {
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
        let until = deadline + Duration::from_secs(5);
        let flush = self.to_writer.send(ToWriter::Flush(done));
        if let Ok(Ok(())) = tokio::time::timeout_at(until, flush).await {
            let _ = tokio::time::timeout_at(until, flushed).await;
        }
    }
}

/// A batch's outcomes grouped by meeting, each group in the batch's order.
fn by_meeting(batch: Vec<AttemptOutcome>) -> Vec<Vec<AttemptOutcome>> {
    let mut groups: std::collections::BTreeMap<String, Vec<AttemptOutcome>> = Default::default();
    for outcome in batch {
        groups
            .entry(outcome.room_id.clone())
            .or_default()
            .push(outcome);
    }
    groups.into_values().collect()
}
