//! A token bucket per endpoint, for its `rateLimit` (requests per second).

use std::time::Instant;

#[derive(Debug)]
pub struct TokenBucket {
    per_second: f64,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// Full at start; holds at most one second's worth.
    pub fn new(per_second: u32) -> Self {
        TokenBucket {
            per_second: f64::from(per_second),
            tokens: f64::from(per_second),
            refilled: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.per_second);
        self.refilled = now;
    }

    /// Whole tokens available now.
    pub fn available(&mut self, now: Instant) -> usize {
        self.refill(now);
        self.tokens.floor() as usize
    }

    pub fn take(&mut self, count: usize) {
        self.tokens -= count as f64;
    }

    /// How long until one more token exists.
    pub fn wait_for_one(&mut self, now: Instant) -> std::time::Duration {
        self.refill(now);
        let missing = (1.0 - self.tokens).max(0.0);
        std::time::Duration::from_secs_f64(missing / self.per_second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn refills_at_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10);
        assert_eq!(bucket.available(start), 10);
        bucket.take(10);
        assert_eq!(bucket.available(start), 0);
        assert!(bucket.wait_for_one(start) <= Duration::from_millis(100));
        assert_eq!(bucket.available(start + Duration::from_millis(500)), 5);
        assert_eq!(bucket.available(start + Duration::from_secs(10)), 10);
    }
}
