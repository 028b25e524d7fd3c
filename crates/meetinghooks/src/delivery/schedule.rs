//! Retry schedule: when the next attempt happens, with jitter and `Retry-After`.

use std::time::Duration;

use rand::RngExt;

use crate::domain::timestamp::Timestamp;
use crate::store::NextStep;

/// The default: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
pub fn default_schedule() -> Vec<Duration> {
    [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000]
        .into_iter()
        .map(Duration::from_secs)
        .collect()
}

/// What follows a failed attempt. `attempts` counts attempts made, including this one;
/// `schedule[k]` is the delay before attempt k+1.
pub fn after_failure(
    attempts: u32,
    schedule: &[Duration],
    jitter: f64,
    retry_after: Option<Duration>,
    now: Timestamp,
) -> NextStep {
    let Some(delay) = schedule.get(attempts as usize) else {
        return NextStep::Exhausted;
    };
    let factor = if jitter > 0.0 {
        rand::rng().random_range(1.0 - jitter..=1.0 + jitter)
    } else {
        1.0
    };
    let jittered = delay.mul_f64(factor);
    // `Retry-After` may push the retry later, but never past the schedule's longest delay:
    // a receiver cannot park its queue for centuries.
    let longest = schedule.iter().max().copied().unwrap_or_default();
    let wait = retry_after.map_or(jittered, |r| r.max(jittered).min(longest.max(jittered)));
    NextStep::RetryAt(now.plus_millis(saturating_millis(wait)))
}

/// Whole milliseconds, saturating instead of wrapping to a negative delay.
pub fn saturating_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Parses `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let millis = date.timestamp_millis().saturating_sub(now.0);
    Some(Duration::from_millis(u64::try_from(millis).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_schedule_then_exhaust() {
        let schedule = default_schedule();
        let now = Timestamp(1_000_000);
        for attempt in 1..8u32 {
            let NextStep::RetryAt(at) = after_failure(attempt, &schedule, 0.2, None, now) else {
                panic!("attempt {attempt} should retry");
            };
            let base = schedule[attempt as usize].as_millis() as f64;
            let delay = (at.0 - now.0) as f64;
            assert!(
                delay >= base * 0.8 - 1.0 && delay <= base * 1.2 + 1.0,
                "{attempt}: {delay}"
            );
        }
        assert_eq!(
            after_failure(8, &schedule, 0.2, None, now),
            NextStep::Exhausted
        );
    }

    #[test]
    fn retry_after_is_a_floor() {
        let schedule = default_schedule();
        let now = Timestamp(0);
        let step = after_failure(1, &schedule, 0.0, Some(Duration::from_secs(60)), now);
        assert_eq!(step, NextStep::RetryAt(Timestamp(60_000)));
        let step = after_failure(1, &schedule, 0.0, Some(Duration::from_secs(1)), now);
        assert_eq!(step, NextStep::RetryAt(Timestamp(5_000)));
    }

    #[test]
    fn retry_after_is_capped_at_the_longest_delay() {
        let schedule = default_schedule();
        let now = Timestamp(0);
        let thousand_years = Duration::from_secs(31_536_000_000);
        let step = after_failure(1, &schedule, 0.0, Some(thousand_years), now);
        assert_eq!(step, NextStep::RetryAt(Timestamp(36_000_000)));
        // With jitter the cap still holds, up to the jittered delay itself.
        for attempt in 1..8u32 {
            let NextStep::RetryAt(at) =
                after_failure(attempt, &schedule, 0.2, Some(thousand_years), now)
            else {
                panic!("attempt {attempt} should retry");
            };
            assert!(at.0 > 0 && at.0 <= 43_200_000, "{attempt}: {at:?}");
        }
    }

    #[test]
    fn huge_retry_after_saturates_instead_of_going_negative() {
        let schedule = [0, 200, 400].map(Duration::from_millis);
        let now = Timestamp(1_000);
        let huge = parse_retry_after("18446744073709551615", now).unwrap();
        let step = after_failure(1, &schedule, 0.0, Some(huge), now);
        assert_eq!(step, NextStep::RetryAt(Timestamp(1_400)));
        assert_eq!(saturating_millis(Duration::MAX), i64::MAX);
        assert_eq!(saturating_millis(Duration::from_secs(u64::MAX)), i64::MAX);
        // A timestamp near the end of time saturates too.
        let late = Timestamp(i64::MAX - 10);
        assert_eq!(
            after_failure(1, &schedule, 0.0, None, late),
            NextStep::RetryAt(Timestamp(i64::MAX))
        );
    }

    #[test]
    fn retry_after_forms() {
        let now = Timestamp::parse_rfc3339("2015-10-21T07:28:00Z").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        // A date in the past means now; one at the far end of time does not overflow.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert!(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now).is_some());
    }
}
