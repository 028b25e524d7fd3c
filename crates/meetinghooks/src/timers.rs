//! The timer driver: fires due reconnect graces and closes sessions past their room's
//! `autoCloseConfig` duration, sleeping until the next deadline in between (at most 1 s); the
//! store's announcement of a newly armed grace wakes it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::domain::timestamp::Timestamp;
use crate::store::Store;

/// Longest sleep between checks; a safety net should an announcement be lost.
const MAX_SLEEP: Duration = Duration::from_secs(1);
const MIN_SLEEP: Duration = Duration::from_millis(10);

pub async fn run(store: Arc<dyn Store>, mut stop: watch::Receiver<bool>) {
    let mut armed = store.changes().timers;
    loop {
        let now = Timestamp::now();
        if let Err(e) = crate::auto_close::close_due(&*store, now).await {
            tracing::warn!(error = %e, "closing sessions by autoCloseConfig failed");
        }
        let sleep = match store.fire_due_timers(now).await {
            // More may be due than one batch held.
            Ok(fired) if fired > 0 => Duration::ZERO,
            Ok(_) => match store.next_timer().await {
                // At least MIN_SLEEP: a due timer may be held by another node right now.
                Ok(Some(next)) => Duration::from_millis((next.0 - now.0).max(0) as u64)
                    .clamp(MIN_SLEEP, MAX_SLEEP),
                Ok(None) => MAX_SLEEP,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the next timer failed");
                    MAX_SLEEP
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "firing timers failed");
                MAX_SLEEP
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            Ok(()) = armed.changed() => {}
            _ = stop.changed() => return,
        }
    }
}
