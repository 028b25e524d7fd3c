//! `Retry-After` is honoured but bounded: a receiver cannot park its queue for centuries, nor
//! make the next attempt come early with a value that overflows.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;
use crate::receiver::{Receiver, Reply};

/// The first answer is 429 with `retry-after: value`, then 200.
async fn retry_after(value: &'static str) -> Duration {
    // The test schedule is 0, 200 ms, 400 ms, 400 ms, without jitter: the cap is 400 ms.
    let app = TestApp::delivering().await;
    let receiver = Receiver::start(move |n, _| match n {
        0 => Reply::WithHeaders(429, vec![("retry-after", value.to_owned())]),
        _ => Reply::Status(200),
    })
    .await;
    app.endpoint(json!({"url": receiver.url("/"), "events": ["session-started"]}))
        .await;
    app.signals(json!([join("s", "m", "p", "2026-01-01T10:00:00Z")]))
        .await;
    eventually_within(Duration::from_secs(5), "the retry", || {
        let done = receiver.received().len() == 2;
        async move { done }
    })
    .await;
    let got = receiver.received();
    app.shutdown().await;
    got[1].at.duration_since(got[0].at)
}

#[tokio::test]
async fn a_thousand_years_of_retry_after_is_capped_at_the_longest_delay() {
    let gap = retry_after("31536000000").await;
    assert!(gap >= Duration::from_millis(350), "{gap:?}");
    assert!(gap < Duration::from_secs(2), "{gap:?}");
}

#[tokio::test]
async fn an_overflowing_retry_after_does_not_retry_early() {
    let gap = retry_after("18446744073709551615").await;
    assert!(gap >= Duration::from_millis(350), "{gap:?}");
}
