//! Rate limits: a token bucket per endpoint, for its `rateLimit` (requests per second), shared
//! by every kind of send (the leasing round, promoted messages, manual resends).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct TokenBucket {
    per_second: f64,
    /// May go below zero: a reservation that must wait for its token (see `reserve`).
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// Full at start; holds at most one second's worth.
    pub fn new(per_second: u32, now: Instant) -> Self {
        TokenBucket {
            per_second: f64::from(per_second.max(1)),
            tokens: f64::from(per_second.max(1)),
            refilled: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.per_second);
        self.refilled = now.max(self.refilled);
    }

    /// Whole tokens available now.
    pub fn available(&mut self, now: Instant) -> usize {
        self.refill(now);
        self.tokens.max(0.0).floor() as usize
    }

    pub fn take(&mut self, count: usize) {
        self.tokens -= count as f64;
    }

    /// How long until one more token exists.
    pub fn wait_for_one(&mut self, now: Instant) -> Duration {
        self.refill(now);
        let missing = (1.0 - self.tokens).max(0.0);
        Duration::from_secs_f64(missing / self.per_second)
    }

    /// Takes one token now, into debt if there is none, and says how long to wait before
    /// using it. Later callers see the debt, so the rate holds across every kind of send.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= 1.0;
        Duration::from_secs_f64((-self.tokens).max(0.0) / self.per_second)
    }
}

/// The buckets of every rate-limited endpoint, shared by the run loop and manual resends.
#[derive(Debug, Default)]
pub struct RateLimits {
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

/// What an endpoint may send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// No rate limit.
    Unlimited,
    /// This many sends now; with none, the first token exists after `wait`.
    Tokens { now: usize, wait: Duration },
}

impl RateLimits {
    fn buckets(&self) -> std::sync::MutexGuard<'_, HashMap<String, TokenBucket>> {
        // Plain numbers: a bucket a panicking thread left behind is still usable.
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The bucket of `endpoint_id` at `rate`; a changed rate starts a fresh bucket.
    fn with_bucket<T>(
        &self,
        endpoint_id: &str,
        rate: u32,
        now: Instant,
        f: impl FnOnce(&mut TokenBucket) -> T,
    ) -> T {
        let mut buckets = self.buckets();
        let bucket = buckets
            .entry(endpoint_id.to_owned())
            .or_insert_with(|| TokenBucket::new(rate, now));
        if bucket.per_second != f64::from(rate.max(1)) {
            *bucket = TokenBucket::new(rate, now);
        }
        f(bucket)
    }

    pub fn allowance(&self, endpoint_id: &str, rate: Option<u32>, now: Instant) -> Allowance {
        let Some(rate) = rate else {
            return Allowance::Unlimited;
        };
        self.with_bucket(endpoint_id, rate, now, |bucket| {
            let tokens = bucket.available(now);
            let wait = if tokens == 0 {
                bucket.wait_for_one(now)
            } else {
                Duration::ZERO
            };
            Allowance::Tokens { now: tokens, wait }
        })
    }

    /// Takes tokens for sends the caller already counted with `allowance`.
    pub fn take(&self, endpoint_id: &str, rate: Option<u32>, count: usize, now: Instant) {
        if let Some(rate) = rate {
            self.with_bucket(endpoint_id, rate, now, |bucket| bucket.take(count));
        }
    }

    /// Takes one token for a send that happens anyway, and says how long to wait before it.
    pub fn reserve(&self, endpoint_id: &str, rate: Option<u32>, now: Instant) -> Duration {
        match rate {
            None => Duration::ZERO,
            Some(rate) => self.with_bucket(endpoint_id, rate, now, |bucket| bucket.reserve(now)),
        }
    }

    /// Forgets the buckets of endpoints that are gone.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.buckets().retain(|id, _| keep(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_at_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, start);
        assert_eq!(bucket.available(start), 10);
        bucket.take(10);
        assert_eq!(bucket.available(start), 0);
        assert!(bucket.wait_for_one(start) <= Duration::from_millis(100));
        assert_eq!(bucket.available(start + Duration::from_millis(500)), 5);
        assert_eq!(bucket.available(start + Duration::from_secs(10)), 10);
    }

    #[test]
    fn reservations_queue_up_behind_each_other() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(2, start);
        assert_eq!(bucket.reserve(start), Duration::ZERO);
        assert_eq!(bucket.reserve(start), Duration::ZERO);
        assert_eq!(bucket.reserve(start), Duration::from_millis(500));
        assert_eq!(bucket.reserve(start), Duration::from_secs(1));
        // The debt is visible to the leasing round: nothing is available until it is paid.
        assert_eq!(bucket.available(start + Duration::from_millis(900)), 0);
        assert_eq!(bucket.available(start + Duration::from_millis(1500)), 1);
    }

    #[test]
    fn shared_limits_follow_the_endpoint_rate() {
        let start = Instant::now();
        let limits = RateLimits::default();
        assert_eq!(limits.allowance("e", None, start), Allowance::Unlimited);
        assert_eq!(
            limits.allowance("e", Some(3), start),
            Allowance::Tokens {
                now: 3,
                wait: Duration::ZERO
            }
        );
        limits.take("e", Some(3), 3, start);
        let Allowance::Tokens { now: 0, wait } = limits.allowance("e", Some(3), start) else {
            panic!("the bucket is empty");
        };
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(334));
        // A new rate starts a full bucket.
        assert!(matches!(
            limits.allowance("e", Some(5), start),
            Allowance::Tokens { now: 5, .. }
        ));
        limits.retain(|id| id != "e");
        assert!(limits.buckets().is_empty());
    }
}
