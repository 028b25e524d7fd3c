//! Fencing by time: when a lease may still be used. A lease is valid only in the future, by
//! the clock it was taken on, at the moment it is used. The sender measures what is left on
//! its own monotonic clock from before it asked for the lease, so a pause, a slow answer or
//! a lock wait counts against the lease, never for it.

use std::time::{Duration, Instant};

use crate::domain::timestamp::Timestamp;

/// Until when, on this process's monotonic clock, a lease surely holds: `left_ms` is what
/// the store said was left when it handed the lease out, `asked_at` the moment before the
/// sender asked (the store's clock read it later, so this is never later than the truth).
pub fn held_until(asked_at: Instant, left_ms: i64) -> Instant {
    asked_at + Duration::from_millis(u64::try_from(left_ms).unwrap_or(0))
}

/// Whether an attempt may start now under a lease held until `held_until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Go,
    /// Too little lease is left for the request's timeout: the attempt is not made and no
    /// outcome is written; the message is taken again once the lease is over.
    GiveUp {
        left: Duration,
    },
}

/// An attempt starts only if the lease outlasts its whole timeout, so it ends (answered or
/// timed out) before any other node may take the message over.
pub fn may_start(held_until: Instant, now: Instant, timeout: Duration) -> Start {
    let left = held_until.saturating_duration_since(now);
    if left > timeout {
        Start::Go
    } else {
        Start::GiveUp { left }
    }
}

/// The length of a lease granted on promotion, `until` asked for by a caller whose clock
/// says `now`: `None` when it would already be over, so the message is promoted as pending
/// and a leasing round takes it with a fresh lease. The store adds the length to its own
/// clock inside the statement that grants it.
pub fn promotion_lease_ms(until: Timestamp, now: Timestamp) -> Option<i64> {
    Some(until.0 - now.0).filter(|ms| *ms > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_holds_from_before_it_was_asked_for() {
        let asked = Instant::now();
        assert_eq!(held_until(asked, 4_000), asked + Duration::from_secs(4));
        // A lease the store says is already over holds for no time at all.
        assert_eq!(held_until(asked, -5), asked);
    }

    #[test]
    fn an_attempt_starts_only_if_the_lease_outlasts_its_timeout() {
        let asked = Instant::now();
        let until = held_until(asked, 4_000);
        let timeout = Duration::from_secs(1);
        assert_eq!(may_start(until, asked, timeout), Start::Go);
        let late = asked + Duration::from_millis(3_000);
        assert_eq!(
            may_start(until, late, timeout),
            Start::GiveUp {
                left: Duration::from_secs(1)
            }
        );
        // Woken after a pause longer than the lease.
        let woken = asked + Duration::from_secs(15);
        assert_eq!(
            may_start(until, woken, timeout),
            Start::GiveUp {
                left: Duration::ZERO
            }
        );
    }

    #[test]
    fn a_promotion_lease_already_over_is_not_granted() {
        assert_eq!(
            promotion_lease_ms(Timestamp(10_000), Timestamp(6_000)),
            Some(4_000)
        );
        assert_eq!(
            promotion_lease_ms(Timestamp(10_000), Timestamp(10_000)),
            None
        );
        assert_eq!(
            promotion_lease_ms(Timestamp(10_000), Timestamp(25_000)),
            None
        );
    }
}
