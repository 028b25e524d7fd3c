//! Giving memory back after a burst of connections. glibc's allocator keeps freed memory in
//! its per-thread arenas, so thousands of closed connections would leave the process tens of
//! MiB larger for good; once the open connections fall to a quarter of their peak, the freed
//! pages are handed back to the system (`malloc_trim`).

use std::sync::atomic::{AtomicUsize, Ordering};

/// Bursts smaller than this are not worth a trim.
const WORTH_TRIMMING: usize = 256;

#[derive(Default)]
pub(super) struct OpenConnections {
    open: AtomicUsize,
    peak: AtomicUsize,
}

impl OpenConnections {
    pub(super) fn opened(&self) {
        let now = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    pub(super) fn closed(&self) {
        let now = self.open.fetch_sub(1, Ordering::Relaxed) - 1;
        let peak = self.peak.load(Ordering::Relaxed);
        if peak >= WORTH_TRIMMING
            && now <= peak / 4
            && self
                .peak
                .compare_exchange(peak, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tokio::task::spawn_blocking(release_freed_memory);
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_freed_memory() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_memory() {}
