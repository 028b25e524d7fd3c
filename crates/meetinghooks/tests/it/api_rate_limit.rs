//! The per-key API rate limit: past the burst, a 429 with `Retry-After`; 0 turns it off.

use reqwest::StatusCode;

use crate::helpers::*;

async fn app_with_rate(per_second: u32, burst: u32) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.api_rate_limit = per_second;
    config.api_rate_burst = burst;
    TestApp::spawn_with(dir, config).await
}

#[tokio::test]
async fn past_the_burst_a_key_gets_429_with_retry_after() {
    let app = app_with_rate(1, 3).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(app.get("/v1/endpoints").await);
    }
    let limited = statuses.pop().unwrap();
    assert!(statuses.iter().all(|r| r.status() == StatusCode::OK));
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1).contains(&retry_after), "{retry_after}");
    assert_error(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Unauthenticated routes are not counted against the key.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    app.shutdown().await;
}

#[tokio::test]
async fn zero_turns_the_limit_off() {
    let app = app_with_rate(0, 1).await;
    for _ in 0..50 {
        assert_eq!(app.get("/v1/endpoints").await.status(), StatusCode::OK);
    }
    app.shutdown().await;
}
