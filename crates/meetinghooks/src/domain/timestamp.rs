//! Timestamps: milliseconds since the Unix epoch, parsed from and written as RFC 3339 UTC.

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch. The engine only ever sees this type, never a clock.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        Timestamp(Utc::now().timestamp_millis() + test_clock_skew_ms())
    }

    /// Parses any RFC 3339 time (any offset); sub-millisecond digits are truncated.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let parsed = DateTime::parse_from_rfc3339(text).ok()?;
        Some(Timestamp(parsed.timestamp_millis()))
    }

    /// RFC 3339 in UTC with exactly three fractional digits, written `+00:00` like the catalog.
    pub fn to_rfc3339(self) -> String {
        let time = DateTime::<Utc>::from_timestamp_millis(self.0).unwrap_or_default();
        time.to_rfc3339_opts(SecondsFormat::Millis, false)
    }

    pub fn plus_millis(self, millis: i64) -> Self {
        Timestamp(self.0.saturating_add(millis))
    }
}

/// Debug builds only: `TEST_CLOCK_SKEW_MS` shifts this process's clock, so a test can run a
/// cluster node whose clock is wrong.
#[cfg(debug_assertions)]
fn test_clock_skew_ms() -> i64 {
    static SKEW: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *SKEW.get_or_init(|| {
        std::env::var("TEST_CLOCK_SKEW_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    })
}

#[cfg(not(debug_assertions))]
const fn test_clock_skew_ms() -> i64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_catalog() {
        let t = Timestamp::parse_rfc3339("2022-07-05T15:55:35.047+00:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2022-07-05T15:55:35.047+00:00");
        let shifted = Timestamp::parse_rfc3339("2022-07-05T17:55:35.047123+02:00").unwrap();
        assert_eq!(shifted, t);
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000+00:00");
    }

    #[test]
    fn rejects_impossible_times() {
        assert!(Timestamp::parse_rfc3339("2022-07-05T15:60:35.047+00:00").is_none());
        assert!(Timestamp::parse_rfc3339("yesterday").is_none());
    }
}
