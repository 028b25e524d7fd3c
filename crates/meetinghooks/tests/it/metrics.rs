//! The Prometheus metrics a real binary exposes for its delivery attempts, on their own
//! address (`metrics_listen`) and not on the API's.

use serde_json::json;

use crate::delivery::joins;
use crate::helpers::*;
use crate::receiver::{Receiver, Reply};

fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_count_attempts_and_latency() {
    // The recorder is process-wide and every in-process app feeds it: count in a process of
    // this test's own, so the figures are exactly this test's attempts.
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let server = Binary::serve(
        dir.path(),
        &[
            ("MEETINGHOOKS_METRICS_LISTEN", &metrics_addr),
            ("MEETINGHOOKS_ALLOWED_PRIVATE_TARGETS", "[\"127.0.0.0/8\"]"),
            ("MEETINGHOOKS_RETRY_SCHEDULE", "[\"0s\", \"100ms\"]"),
            ("MEETINGHOOKS_RETRY_JITTER", "0"),
        ],
    );
    server.wait_ready(&client).await;
    let receiver = Receiver::start(|n, _| Reply::Status(if n == 0 { 500 } else { 200 })).await;
    let body = json!({"url": receiver.url("/"), "events": ["session-started"]});
    post_json(&client, &server.url("/v1/endpoints"), body).await;
    post_json(
        &client,
        &server.url("/v1/signals"),
        json!({"signals": joins("metrics", 0, 1)}),
    )
    .await;
    // Totals over every project: not on the API's address, with or without a key.
    let on_api = client
        .get(server.url("/metrics"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(on_api.status(), 404);
    let metrics_url = format!("http://{metrics_addr}/metrics");
    let metrics = || async {
        let response = client.get(&metrics_url).send().await.unwrap();
        response.text().await.unwrap()
    };
    eventually("the success is counted", || async {
        sample(
            &metrics().await,
            "meetinghooks_attempts_total{outcome=\"2xx\"}",
        ) == 1.0
    })
    .await;
    let text = metrics().await;
    assert_eq!(receiver.received().len(), 2);
    assert_eq!(
        sample(&text, "meetinghooks_attempts_total{outcome=\"5xx\"}"),
        1.0,
        "{text}"
    );
    // One latency per success, not per attempt.
    assert_eq!(
        sample(&text, "meetinghooks_delivery_latency_seconds_count"),
        1.0,
        "{text}"
    );
    assert!(
        text.contains("meetinghooks_delivery_latency_seconds_bucket"),
        "{text}"
    );
}
