//! The SQLite writer thread: group commit (every job waiting when a transaction starts shares
//! its one fsync), each job in a savepoint; a panicking job fails alone, and the writer's
//! health answers `/readyz`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::{mpsc, oneshot};

use super::SqliteStore;
use crate::engine::EngineConfig;
use crate::store::panic::contain;
use crate::store::{StoreError, StoreResult};

/// Most jobs one transaction takes; bounds commit latency under load.
const MAX_GROUP: usize = 512;

/// The writer's queue: how many jobs may wait, and how long an API write waits for room
/// before it is refused as overloaded (503, `Retry-After`). Nothing is dropped: a refused
/// write was never queued, and a queued one is always answered.
#[derive(Debug, Clone, Copy)]
pub(super) struct QueueBound {
    pub jobs: usize,
    pub wait: Duration,
}

pub(super) const QUEUE: QueueBound = QueueBound {
    jobs: 4096,
    wait: Duration::from_secs(2),
};

/// A unit of write work: runs inside the group transaction, returns whether it succeeded
/// and a callback that learns, after COMMIT, whether its work is durable.
struct WriteJob {
    /// Must be on disk before it is acknowledged. Lease and delivery bookkeeping is not:
    /// losing it to a power cut only means a message is delivered again.
    durable: Durability,
    run: JobFn,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Committed with `synchronous=FULL`.
    Full,
    /// May stay in the OS cache: it survives `kill -9`, not a power cut.
    Relaxed,
}

/// Runs inside the group transaction; returns whether it succeeded and its `Finisher`.
type JobFn = Box<dyn FnOnce(&Connection, &EngineConfig) -> (bool, Finisher) + Send>;
type Finisher = Box<dyn FnOnce(Result<(), String>) + Send>;

/// The handle to the writer thread.
pub(super) struct Writer {
    jobs: mpsc::Sender<WriteJob>,
    bound: QueueBound,
    /// Cleared when the writer thread ends, whatever ends it.
    alive: Arc<AtomicBool>,
}

/// Clears the liveness flag when the writer thread ends, by return or by unwinding.
struct AliveGuard(Arc<AtomicBool>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Writer {
    pub(super) fn start(
        conn: Connection,
        engine: EngineConfig,
        bound: QueueBound,
    ) -> std::io::Result<Writer> {
        let (jobs, rx) = mpsc::channel(bound.jobs);
        let alive = Arc::new(AtomicBool::new(true));
        let guard = AliveGuard(alive.clone());
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                let _guard = guard;
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    writer_loop(conn, rx, engine)
                }));
                if outcome.is_err() {
                    // Jobs catch their own panics; this one broke the writer itself, whose
                    // state is unknown. Exit, so that a supervisor starts a healthy process.
                    tracing::error!("the SQLite writer panicked outside a job; exiting");
                    std::process::abort();
                }
            })?;
        Ok(Writer { jobs, bound, alive })
    }

    /// Fails at once when the writer thread is gone, else waits for it to run a statement.
    pub(super) async fn ping(&self) -> StoreResult<()> {
        if !self.alive.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable("SQLite writer: not running".into()));
        }
        self.run(Durability::Relaxed, |conn, _| {
            Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?)
        })
        .await
        .map_err(|e| match e {
            StoreError::Unavailable(reason) => {
                StoreError::Unavailable(format!("SQLite writer: {reason}"))
            }
            other => other,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        durable: Durability,
        work: impl FnOnce(&Connection, &EngineConfig) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (reply, answer) = oneshot::channel();
        let run = Box::new(move |conn: &Connection, engine: &EngineConfig| {
            // A panic fails this job only: its savepoint is rolled back, the group goes on.
            let result = contain(|| work(conn, engine));
            let ok = result.is_ok();
            let finish: Finisher = Box::new(move |committed| {
                let _ = reply.send(match committed {
                    Ok(()) => result,
                    Err(e) => Err(StoreError::Unavailable(e)),
                });
            });
            (ok, finish)
        });
        let job = WriteJob { durable, run };
        match durable {
            // An API write (ingest above all) waits a little for room, then is refused.
            Durability::Full => {
                self.jobs
                    .send_timeout(job, self.bound.wait)
                    .await
                    .map_err(|e| match e {
                        SendTimeoutError::Timeout(_) => {
                            StoreError::Overloaded("the SQLite write queue is full".into())
                        }
                        SendTimeoutError::Closed(_) => {
                            StoreError::Unavailable("writer stopped".into())
                        }
                    })?
            }
            // Delivery bookkeeping waits: its callers slow down instead (back-pressure).
            Durability::Relaxed => self
                .jobs
                .send(job)
                .await
                .map_err(|_| StoreError::Unavailable("writer stopped".into()))?,
        }
        answer
            .await
            .map_err(|_| StoreError::Unavailable("write aborted".into()))?
    }
}

impl SqliteStore {
    /// Runs `work` in the writer's next group transaction and waits until it is durable.
    pub(super) async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection, &EngineConfig) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.writer.run(Durability::Full, work).await
    }

    /// Like `write`, but the commit may stay in the OS cache (it survives `kill -9`, not a
    /// power cut): for leases and delivery outcomes, whose loss only causes a redelivery.
    pub(super) async fn write_relaxed<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection, &EngineConfig) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.writer.run(Durability::Relaxed, work).await
    }
}

fn writer_loop(mut conn: Connection, mut jobs: mpsc::Receiver<WriteJob>, engine: EngineConfig) {
    // `open_connection` starts every connection at FULL.
    let mut synchronous_full = true;
    while let Some(first) = jobs.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let mut finishers = Vec::with_capacity(group.len());
        let durable = group.iter().any(|job| job.durable == Durability::Full);
        let outcome = (|| -> rusqlite::Result<()> {
            if durable != synchronous_full {
                conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
                synchronous_full = durable;
            }
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for job in group.drain(..) {
                tx.prepare_cached("SAVEPOINT job")?.execute([])?;
                let (ok, finish) = (job.run)(&tx, &engine);
                finishers.push(finish);
                if !ok {
                    tx.prepare_cached("ROLLBACK TO job")?.execute([])?;
                }
                tx.prepare_cached("RELEASE job")?.execute([])?;
            }
            tx.commit()
        })();
        let committed = outcome.map_err(|e| {
            tracing::error!(error = %e, "group commit failed");
            e.to_string()
        });
        for finish in finishers {
            finish(committed.clone());
        }
        // Jobs never run because the transaction broke early drop their reply channel,
        // which their callers see as `Unavailable`.
        drop(group);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With the writer stuck and its queue full, an API write is refused as overloaded
    /// after the wait; every queued write still commits once the writer moves on.
    #[tokio::test]
    async fn a_full_queue_refuses_api_writes_and_keeps_every_queued_one() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let bound = QueueBound {
            jobs: 2,
            wait: Duration::from_millis(100),
        };
        let writer = Arc::new(
            Writer::start(
                conn,
                EngineConfig {
                    reconnect_grace_ms: 0,
                },
                bound,
            )
            .unwrap(),
        );
        let insert = |x: i64| {
            move |conn: &Connection, _: &EngineConfig| -> StoreResult<()> {
                conn.execute("INSERT INTO t VALUES (?1)", [x])?;
                Ok(())
            }
        };
        let (gate, gated) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel();
        let stuck = tokio::spawn({
            let writer = writer.clone();
            async move {
                writer
                    .run(Durability::Full, move |conn, engine| {
                        let _ = started.send(());
                        gated.recv().unwrap();
                        insert(1)(conn, engine)
                    })
                    .await
            }
        });
        running.await.unwrap();
        let queued: Vec<_> = (2..=3)
            .map(|x| {
                let writer = writer.clone();
                tokio::spawn(async move { writer.run(Durability::Full, insert(x)).await })
            })
            .collect();
        while writer.jobs.capacity() > 0 {
            tokio::task::yield_now().await;
        }
        let refused = tokio::time::timeout(
            Duration::from_secs(5),
            writer.run(Durability::Full, insert(4)),
        )
        .await
        .expect("a write waited on a full queue for good");
        assert!(
            matches!(refused, Err(StoreError::Overloaded(_))),
            "{refused:?}"
        );

        gate.send(()).unwrap();
        stuck.await.unwrap().unwrap();
        for write in queued {
            write.await.unwrap().unwrap();
        }
        let rows: Vec<i64> = writer
            .run(Durability::Relaxed, |conn, _| {
                let mut statement = conn.prepare("SELECT x FROM t ORDER BY x")?;
                let rows = statement.query_map([], |row| row.get(0))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
            .unwrap();
        assert_eq!(rows, [1, 2, 3]);
    }
}
