//! The SQLite readers: at most `READERS` connections, each reading on a blocking thread.
//! A read waits for a free reader (back-pressure); one that waits too long is refused as
//! overloaded (503 with `Retry-After`) instead of opening ever more connections and threads.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::schema::open_connection;
use super::unavailable;
use crate::store::{StoreError, StoreResult};

/// Concurrent reads; WAL readers do not block each other, but beyond the cores they only queue.
pub(super) const READERS: usize = 16;
/// How long a read waits for a reader before it is refused.
const READ_WAIT: Duration = Duration::from_secs(5);

pub(super) struct ReaderPool {
    path: PathBuf,
    /// At most `READERS`: a connection is only opened while holding a permit.
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl ReaderPool {
    pub(super) fn new(path: PathBuf) -> ReaderPool {
        ReaderPool {
            path,
            idle: Mutex::new(Vec::with_capacity(READERS)),
            permits: Arc::new(Semaphore::new(READERS)),
        }
    }

    pub(super) async fn read<T: Send + 'static, E: Into<StoreError>>(
        self: &Arc<Self>,
        work: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> StoreResult<T> {
        let permit = tokio::time::timeout(READ_WAIT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| StoreError::Overloaded("every SQLite reader is busy".into()))?
            .map_err(unavailable)?;
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = match pool.idle.lock().expect("reader pool").pop() {
                Some(conn) => conn,
                None => open_connection(&pool.path).map_err(unavailable)?,
            };
            let result = work(&conn).map_err(Into::into);
            pool.idle.lock().expect("reader pool").push(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }

    /// Connections open now, for tests of the bound.
    #[cfg(test)]
    pub(super) fn open_connections(&self) -> usize {
        self.idle.lock().expect("reader pool").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many more reads at once than readers: all are answered, through at most `READERS`
    /// connections.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_beyond_the_bound_wait_for_a_reader() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Arc::new(ReaderPool::new(dir.path().join("r.db")));
        let busy = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let reads = (0..READERS * 4).map(|_| {
            let (pool, busy, most) = (pool.clone(), busy.clone(), most.clone());
            tokio::spawn(async move {
                pool.read(move |conn| {
                    let now = busy.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    busy.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))
                        .map_err(StoreError::from)
                })
                .await
            })
        });
        for read in futures_util::future::join_all(reads).await {
            assert_eq!(read.unwrap().unwrap(), 1);
        }
        assert!(most.load(std::sync::atomic::Ordering::SeqCst) <= READERS);
        assert!(pool.open_connections() <= READERS);
    }
}
