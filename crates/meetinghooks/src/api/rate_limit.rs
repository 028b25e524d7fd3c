//! The per-key API rate limit: a token bucket per API key, refilled at `api_rate_limit`
//! requests per second up to `api_rate_burst`; an empty bucket is a 429 with `Retry-After`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Buckets not touched for this long are full again and are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(600);

pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<Buckets>,
}

#[derive(Default)]
struct Buckets {
    by_key: HashMap<[u8; 32], Bucket>,
    last_sweep: Option<Instant>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// What the limiter decided for one request.
#[derive(Debug, PartialEq)]
pub enum Admission {
    Allowed,
    /// Refused; a token is back after this long.
    Limited {
        retry_after: Duration,
    },
}

impl RateLimiter {
    /// `per_second` 0 turns the limit off.
    pub fn new(per_second: u32, burst: u32) -> Self {
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::default(),
        }
    }

    pub fn admit(&self, key_hash: [u8; 32]) -> Admission {
        if self.per_second == 0.0 {
            return Admission::Allowed;
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("rate buckets");
        if buckets
            .last_sweep
            .is_none_or(|at| now.duration_since(at) >= FORGET_AFTER)
        {
            buckets
                .by_key
                .retain(|_, b| now.duration_since(b.at) < FORGET_AFTER);
            buckets.last_sweep = Some(now);
        }
        let bucket = buckets.by_key.entry(key_hash).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Admission::Allowed
        } else {
            let wait = (1.0 - bucket.tokens) / self.per_second;
            Admission::Limited {
                retry_after: Duration::from_secs_f64(wait),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_the_steady_rate() {
        let limiter = RateLimiter::new(2, 3);
        let key = [1; 32];
        for _ in 0..3 {
            assert_eq!(limiter.admit(key), Admission::Allowed);
        }
        let Admission::Limited { retry_after } = limiter.admit(key) else {
            panic!("the fourth request within the burst is limited");
        };
        assert_eq!(retry_after, Duration::from_millis(500));
        // Another key has its own bucket.
        assert_eq!(limiter.admit([2; 32]), Admission::Allowed);
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(limiter.admit(key), Admission::Allowed);
        assert!(matches!(limiter.admit(key), Admission::Limited { .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_is_off() {
        let limiter = RateLimiter::new(0, 1);
        for _ in 0..10_000 {
            assert_eq!(limiter.admit([0; 32]), Admission::Allowed);
        }
    }
}
