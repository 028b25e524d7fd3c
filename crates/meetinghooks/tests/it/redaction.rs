//! Credentials given to an endpoint are write-only: reads show custom header names with `"…"`
//! and the URL without its password, while deliveries still carry the stored values.

use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::receiver::Receiver;

#[tokio::test]
async fn header_values_and_url_passwords_are_write_only() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(200).await;
    let url = receiver
        .url("/hooks")
        .replace("http://", "http://hook-user:hook-pass@");
    let created = app
        .endpoint(json!({"url": url, "events": ["*"],
            "headers": {"X-Api-Key": "key-s3cret", "X-Team": "blue"}}))
        .await;
    let id = created["id"].as_str().unwrap();
    let shown_url = receiver
        .url("/hooks")
        .replace("http://", "http://hook-user@");
    let one: Value = app
        .get(&format!("/v1/endpoints/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let list: Value = app.get("/v1/endpoints").await.json().await.unwrap();
    for shown in [&created, &one, &list["data"][0]] {
        assert_eq!(shown["url"], shown_url.as_str(), "{shown}");
        assert_eq!(shown["headers"], json!({"X-Api-Key": "…", "X-Team": "…"}));
        let text = shown.to_string();
        assert!(
            !text.contains("key-s3cret") && !text.contains("hook-pass"),
            "{text}"
        );
    }

    // The stored values are unchanged and used.
    app.signals(json!([join("s1", "m", "p", "2026-01-01T10:00:00Z")]))
        .await;
    let got = receiver
        .wait_for("a delivery", |r| !r.is_empty())
        .await
        .remove(0);
    assert_eq!(got.header("x-api-key"), "key-s3cret");
    assert_eq!(got.header("x-team"), "blue");
    let basic = base64::engine::general_purpose::STANDARD.encode("hook-user:hook-pass");
    assert_eq!(got.header("authorization"), format!("Basic {basic}"));
    app.shutdown().await;
}
