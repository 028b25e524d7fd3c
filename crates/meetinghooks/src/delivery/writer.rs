//! The outcome writer: collects attempt outcomes from the senders and records them in
//! batches, hands on the messages their commits promote, and flushes on shutdown.

use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::schedule::saturating_millis;
use super::Dispatcher;
use crate::domain::endpoint::Endpoint;
use crate::domain::timestamp::Timestamp;
use crate::store::AttemptOutcome;

const OUTCOME_BATCH: usize = 1024;

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
    pub(super) async fn write_outcomes(self: Arc<Self>, mut input: mpsc::Receiver<ToWriter>) {
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
            if !by_lease.is_empty() || !by_round.is_empty() {
                let mut reload = false;
                for (batch, promote) in [
                    (&mut by_lease, PromoteBy::Lease),
                    (&mut by_round, PromoteBy::Round),
                ] {
                    if !batch.is_empty() {
                        reload |= self.record_batch(batch, promote).await == Written::Reload;
                        batch.clear();
                    }
                }
                if reload {
                    self.endpoints_changed.store(true, AtomicOrdering::Release);
                }
            }
            for done in flushes.drain(..) {
                let _ = done.send(());
            }
        }
    }

    /// Writes one batch of outcomes, retrying while the leases last.
    async fn record_batch(&self, batch: &[AttemptOutcome], promote: PromoteBy) -> Written {
        let auto_disable = saturating_millis(self.config.auto_disable_after);
        // Until it is written, the message stays leased and is retried after the lease,
        // so a failed write delays but never loses.
        let mut tries = 0;
        let first_try = Instant::now();
        loop {
            // While running, a meeting's next message is leased in the same transaction and
            // handed straight to the sender; from now, however long the retries took.
            let lease_until = (promote == PromoteBy::Lease
                && !self.stopping.load(AtomicOrdering::Acquire))
            .then(|| Timestamp::now().plus_millis(saturating_millis(self.lease_duration())));
            let e = match self
                .store
                .record_outcomes(batch.to_vec(), auto_disable, lease_until)
                .await
            {
                Ok(recorded) => {
                    self.touch(batch);
                    self.failure_log().report(batch, &recorded.disabled);
                    if !recorded.promoted.is_empty() {
                        let _ = self.promoted.send(recorded.promoted).await;
                    }
                    return if recorded.disabled.is_empty() && tries == 0 {
                        Written::Done
                    } else {
                        Written::Reload
                    };
                }
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
