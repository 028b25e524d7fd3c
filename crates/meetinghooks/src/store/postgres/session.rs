//! The limits every PostgreSQL session of a node runs under, so no node can hold a meeting
//! hostage: how long a statement may run, how long a transaction may sit idle (a frozen
//! node's locks are released by the server), and how long writing outcomes waits for a lock.

use std::time::Duration;

/// Set from the configuration, which keeps each well below `lease_duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    pub statement_timeout: Duration,
    pub idle_in_transaction: Duration,
    pub lock_timeout: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            statement_timeout: Duration::from_secs(10),
            idle_in_transaction: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(2),
        }
    }
}

impl SessionLimits {
    /// The connection's `options`: the session-wide limits.
    pub(super) fn options(&self) -> String {
        format!(
            "-c idle_in_transaction_session_timeout={} -c statement_timeout={}",
            self.idle_in_transaction.as_millis(),
            self.statement_timeout.as_millis()
        )
    }

    /// Run first in an outcome transaction: its lock waits are bounded.
    pub(super) fn local_lock_timeout(&self) -> String {
        format!("SET LOCAL lock_timeout = {}", self.lock_timeout.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_name_both_session_limits_in_milliseconds() {
        let limits = SessionLimits {
            statement_timeout: Duration::from_millis(1_500),
            idle_in_transaction: Duration::from_secs(1),
            lock_timeout: Duration::from_millis(250),
        };
        assert_eq!(
            limits.options(),
            "-c idle_in_transaction_session_timeout=1000 -c statement_timeout=1500"
        );
        assert_eq!(limits.local_lock_timeout(), "SET LOCAL lock_timeout = 250");
    }
}
