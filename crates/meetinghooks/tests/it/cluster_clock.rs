//! Leases on PostgreSQL run on the database's clock: a node whose clock runs ahead must not
//! take over a message another node is sending right now.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::json;
use tokio::sync::Notify;

use crate::helpers::{fresh_postgres_database, join, post_json, Binary, KEY, SECRET_KEY};

/// Every request's `webhook-id`, in arrival order; the first is held until `release`.
#[derive(Clone, Default)]
struct HoldingReceiver {
    ids: Arc<Mutex<Vec<String>>>,
    release: Arc<Notify>,
}

impl HoldingReceiver {
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let this = self.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap| {
            let this = this.clone();
            async move {
                let first = {
                    let mut ids = this.ids.lock().unwrap();
                    let id = headers["webhook-id"].to_str().unwrap().to_owned();
                    ids.push(id);
                    ids.len() == 1
                };
                if first {
                    this.release.notified().await;
                }
                "ok"
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/")
    }

    fn ids(&self) -> Vec<String> {
        self.ids.lock().unwrap().clone()
    }
}

fn node_env(database_url: &str, skew_ms: i64) -> Vec<(&'static str, String)> {
    vec![
        ("MEETINGHOOKS_DATABASE_URL", database_url.to_owned()),
        ("MEETINGHOOKS_SECRET_KEY", SECRET_KEY.into()),
        (
            "MEETINGHOOKS_ALLOWED_PRIVATE_TARGETS",
            "[\"127.0.0.0/8\"]".into(),
        ),
        ("MEETINGHOOKS_LEASE_DURATION", "40s".into()),
        ("MEETINGHOOKS_REQUEST_TIMEOUT", "15s".into()),
        // Read by debug builds only (domain::timestamp).
        ("TEST_CLOCK_SKEW_MS", skew_ms.to_string()),
    ]
}

fn serve(dir: &std::path::Path, database_url: &str, skew_ms: i64) -> Binary {
    let env = node_env(database_url, skew_ms);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Binary::serve(dir, &env)
}

#[tokio::test]
#[cfg_attr(not(has_postgres), ignore = "needs TEST_POSTGRES_URL")]
async fn a_fast_clock_cannot_take_over_a_live_lease() {
    let Some(database_url) = fresh_postgres_database().await else {
        return;
    };
    let client = reqwest::Client::new();
    let receiver = HoldingReceiver::default();
    let url = receiver.start().await;
    let dir = tempfile::tempdir().unwrap();
    let a = serve(dir.path(), &database_url, 0);
    a.wait_ready(&client).await;
    post_json(
        &client,
        &a.url("/v1/endpoints"),
        json!({"url": url, "events": ["session-started"]}),
    )
    .await;
    let report = post_json(
        &client,
        &a.url("/v1/signals"),
        json!({"signals": [join("1", "m", "p", "2026-01-01T10:00:00Z")]}),
    )
    .await;
    assert_eq!(report["messages"], 1, "{report}");
    crate::helpers::eventually("node A is sending the message", || {
        let sent = !receiver.ids().is_empty();
        async move { sent }
    })
    .await;

    // A's lease (40 s) is live; B's clock is two minutes ahead.
    let b = serve(dir.path(), &database_url, 120_000);
    b.wait_ready(&client).await;
    // B's dispatcher looks for work at once and then every 250 ms: give it many rounds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < deadline {
        let ids = receiver.ids();
        assert_eq!(
            ids.len(),
            1,
            "the message was sent again while its first attempt was open: {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    receiver.release.notify_one();
    crate::helpers::eventually("the message succeeded", || async {
        let page: serde_json::Value = client
            .get(b.url("/v1/messages"))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["data"][0]["status"] == "succeeded"
    })
    .await;
    assert_eq!(receiver.ids().len(), 1);
}
