//! Credentials given to an endpoint are write-only: reads show custom header names with `"…"`
//! and the URL's whole userinfo as `…@` (API, room webhooks, dashboard pages), while
//! deliveries still carry the stored values.

use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::receiver::Receiver;
use crate::ui::Browser;

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
    let shown_url = receiver.url("/hooks").replace("http://", "http://…@");
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
            !text.contains("key-s3cret")
                && !text.contains("hook-pass")
                && !text.contains("hook-user"),
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

/// A token as the user name (`https://ghp_…@host`) is as secret as a password.
const TOKEN: &str = "ghp_SECRETTOKEN";

#[tokio::test]
async fn a_token_in_the_user_name_is_hidden_on_every_read() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(200).await;
    let url = receiver
        .url("/h")
        .replace("http://", &format!("http://{TOKEN}@"));
    let shown = receiver.url("/h").replace("http://", "http://…@");
    let endpoint = app.endpoint(json!({"url": url})).await;
    let id = endpoint["id"].as_str().unwrap();
    let room: Value = app
        .post(
            "/v2/rooms",
            json!({"webhook": {"endPoint": url, "events": ["session-started"]}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let room_id = room["roomId"].as_str().unwrap();
    assert_eq!(room["webhook"]["endPoint"], shown.as_str(), "{room}");

    let one: Value = app
        .get(&format!("/v1/endpoints/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let list: Value = app.get("/v1/endpoints").await.json().await.unwrap();
    let read_room: Value = app
        .get(&format!("/v2/rooms/{room_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(endpoint["url"], shown.as_str());
    assert_eq!(one["url"], shown.as_str());
    assert_eq!(
        read_room["webhook"]["endPoint"],
        shown.as_str(),
        "{read_room}"
    );
    let urls: Vec<&Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["url"])
        .collect();
    assert_eq!(urls.len(), 2, "the account endpoint and the room's: {list}");
    for url in urls {
        assert_eq!(url, shown.as_str(), "{list}");
    }

    // The dashboard's endpoint and meeting pages.
    let browser = Browser::sign_in(&app, KEY).await;
    for path in [
        format!("/ui/endpoints/{id}"),
        format!("/ui/meetings/{room_id}"),
        "/ui/endpoints".into(),
    ] {
        let page = browser.page(&path).await;
        assert!(!page.contains(TOKEN), "{path} shows the token");
        assert!(page.contains("…@"), "{path} shows no redacted URL");
    }

    // Deliveries still use it: the user name goes out as Basic credentials.
    app.signals(json!([join("s1", "m", "p", "2026-01-01T10:00:00Z")]))
        .await;
    let got = receiver
        .wait_for("a delivery", |r| !r.is_empty())
        .await
        .remove(0);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{TOKEN}:"));
    assert_eq!(got.header("authorization"), format!("Basic {basic}"));

    // The overview lists endpoints that need a look: a disabled one, redacted too.
    app.patch(&format!("/v1/endpoints/{id}"), json!({"disabled": true}))
        .await;
    let overview = browser.page("/ui").await;
    assert!(
        overview.contains("Endpoints that need a look"),
        "{overview}"
    );
    assert!(!overview.contains(TOKEN), "the overview shows the token");
    assert!(
        overview.contains("…@"),
        "the overview shows no redacted URL"
    );
    app.shutdown().await;
}
