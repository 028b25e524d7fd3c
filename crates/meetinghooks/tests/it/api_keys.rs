//! `/v1/api-keys`: created keys work, listings never show a key, revocation is honoured at
//! once on the node that revoked and within a second on another node, the last key stays,
//! another project's keys are out of reach, and last use is recorded without a write per request.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, eventually_within, fresh_postgres_database, test_config, TestApp, KEY,
};

async fn list_keys(app: &TestApp, with: &str) -> (String, Vec<Value>) {
    let response = app
        .client
        .get(app.url("/v1/api-keys"))
        .bearer_auth(with)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    (text, body["data"].as_array().unwrap().clone())
}

async fn revoke(app: &TestApp, with: &str, id: &str) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("/v1/api-keys/{id}")))
        .bearer_auth(with)
        .send()
        .await
        .unwrap()
}

async fn status_with(app: &TestApp, key: &str) -> StatusCode {
    app.client
        .get(app.url("/v1/endpoints"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
}

/// The id of the bootstrap key: the one key that is not `except`.
async fn other_key_id(app: &TestApp, except: &str) -> String {
    let (_, keys) = list_keys(app, KEY).await;
    let other: Vec<&Value> = keys.iter().filter(|k| k["id"] != except).collect();
    assert_eq!(other.len(), 1, "{keys:#?}");
    other[0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_created_key_works_for_its_project_and_no_listing_shows_a_key() {
    let app = TestApp::spawn().await;
    let created = app.create_api_key(KEY).await;
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("mhk_"), "{created}");
    assert_eq!(created["prefix"], json!(&key[..8]));
    assert!(created["id"].as_str().unwrap().starts_with("key_"));

    // The new key opens the same project: what it creates, the bootstrap key sees.
    let response = app
        .client
        .post(app.url("/v1/endpoints"))
        .bearer_auth(&key)
        .json(&json!({"url": "https://example.com/hooks"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let endpoint: Value = response.json().await.unwrap();
    let path = format!("/v1/endpoints/{}", endpoint["id"].as_str().unwrap());
    assert_eq!(app.get(&path).await.status(), StatusCode::OK);

    let (text, keys) = list_keys(&app, &key).await;
    assert_eq!(keys.len(), 2, "{text}");
    assert!(!text.contains(&key), "a listing shows a key: {text}");
    assert!(!text.contains(KEY), "a listing shows a key: {text}");
    assert!(keys.iter().all(|k| k.get("key").is_none()), "{text}");
    let listed = keys.iter().find(|k| k["id"] == created["id"]).unwrap();
    assert_eq!(listed["prefix"], json!(&key[..8]));
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once_and_the_last_key_cannot_be_revoked() {
    let app = TestApp::spawn().await;
    let (_, keys) = list_keys(&app, KEY).await;
    let bootstrap = keys[0]["id"].as_str().unwrap().to_owned();
    let refused = revoke(&app, KEY, &bootstrap).await;
    assert_error(refused, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(status_with(&app, KEY).await, StatusCode::OK);

    let created = app.create_api_key(KEY).await;
    let key = created["key"].as_str().unwrap().to_owned();
    // Used once, so this node has it cached when it is revoked.
    assert_eq!(status_with(&app, &key).await, StatusCode::OK);
    let id = created["id"].as_str().unwrap();
    assert_eq!(revoke(&app, KEY, id).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(status_with(&app, &key).await, StatusCode::UNAUTHORIZED);
    assert_error(
        revoke(&app, KEY, id).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // A key may revoke the one it replaces, even the one in use, but never the last.
    let next = app.create_api_key(KEY).await;
    let next_key = next["key"].as_str().unwrap().to_owned();
    assert_eq!(
        other_key_id(&app, next["id"].as_str().unwrap()).await,
        bootstrap
    );
    assert_eq!(
        revoke(&app, KEY, &bootstrap).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(status_with(&app, KEY).await, StatusCode::UNAUTHORIZED);
    let last = revoke(&app, &next_key, next["id"].as_str().unwrap()).await;
    assert_error(last, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(status_with(&app, &next_key).await, StatusCode::OK);
}

#[tokio::test]
async fn another_projects_key_cannot_be_revoked_or_seen() {
    let app = TestApp::spawn().await;
    // A second project in the same database, made the operator's way.
    let other_key = app.create_project_with_cli("other");
    let spare = app.create_api_key(&other_key).await;
    let (_, theirs) = list_keys(&app, &other_key).await;
    let (_, ours) = list_keys(&app, KEY).await;
    assert_eq!(theirs.len(), 2);
    assert_eq!(ours.len(), 1);
    assert!(ours.iter().all(|k| k["id"] != spare["id"]));

    for key in &theirs {
        let id = key["id"].as_str().unwrap();
        assert_error(
            revoke(&app, KEY, id).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    assert_eq!(list_keys(&app, &other_key).await.1.len(), 2);
    assert_eq!(status_with(&app, &other_key).await, StatusCode::OK);
}

#[tokio::test]
async fn last_use_is_recorded_at_most_once_a_minute() {
    let app = TestApp::spawn().await;
    let (_, keys) = list_keys(&app, KEY).await;
    let id = keys[0]["id"].clone();
    // The key was used by that listing; its use and its prefix are written beside it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let first = loop {
        let (_, keys) = list_keys(&app, KEY).await;
        let key = keys.iter().find(|k| k["id"] == id).unwrap();
        if key["prefix"] == json!(&KEY[..8]) && key["lastUsedAt"].is_string() {
            break key["lastUsedAt"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no use recorded: {key}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for _ in 0..20 {
        assert_eq!(status_with(&app, KEY).await, StatusCode::OK);
    }
    let (_, keys) = list_keys(&app, KEY).await;
    let key = keys.iter().find(|k| k["id"] == id).unwrap();
    assert_eq!(key["lastUsedAt"], first, "written again within a minute");
}

/// Two in-process nodes on one PostgreSQL: a key revoked through A is refused by B, which
/// had it cached, within a second.
#[tokio::test]
#[cfg_attr(not(has_postgres), ignore = "needs TEST_POSTGRES_URL")]
async fn a_key_revoked_on_one_node_is_refused_by_another_within_a_second() {
    let Some(database_url) = fresh_postgres_database().await else {
        return;
    };
    let node = |database_url: String| async move {
        let dir = tempfile::tempdir().unwrap();
        let config = meetinghooks::Config {
            database_url,
            ..test_config(dir.path())
        };
        TestApp::spawn_with(dir, config).await
    };
    let a = node(database_url.clone()).await;
    let b = node(database_url).await;
    let created = a.create_api_key(KEY).await;
    let key = created["key"].as_str().unwrap().to_owned();
    assert_eq!(status_with(&b, &key).await, StatusCode::OK);
    assert_eq!(status_with(&b, &key).await, StatusCode::OK);

    let id = created["id"].as_str().unwrap();
    assert_eq!(revoke(&a, KEY, id).await.status(), StatusCode::NO_CONTENT);
    eventually_within(
        Duration::from_secs(1),
        "B refuses the revoked key",
        || async { status_with(&b, &key).await == StatusCode::UNAUTHORIZED },
    )
    .await;
    assert_eq!(status_with(&b, KEY).await, StatusCode::OK);
}
