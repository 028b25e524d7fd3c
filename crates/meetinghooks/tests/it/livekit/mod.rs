//! The LiveKit source end to end: sources through the API, LiveKit-signed requests on the
//! real app (SQLite or PostgreSQL), and a whole LiveKit meeting delivered to a receiver.

mod closing_store;
mod egress;
mod meeting;
mod simulate;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::raw_db::RawDb;
use meetinghooks::domain::timestamp::Timestamp;
use meetinghooks::sources::livekit::sign::sign;

/// Posts `body` to `path` signed as LiveKit signs with `(key, secret)`.
pub async fn post_livekit(
    app: &TestApp,
    path: &str,
    key: &str,
    secret: &str,
    body: &Value,
) -> reqwest::Response {
    let bytes = body.to_string().into_bytes();
    let token = sign(key, secret, &bytes, Timestamp::now().0 / 1000);
    app_client()
        .post(app.url(path))
        .header("authorization", token)
        .header("content-type", "application/webhook+json")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

fn app_client() -> reqwest::Client {
    reqwest::Client::new()
}

/// Registers a LiveKit source with one key pair; returns its JSON.
pub async fn livekit_source(app: &TestApp, key: &str, secret: &str, extra: Value) -> Value {
    let mut body = json!({"kind":"livekit","keys":[{"apiKey":key,"apiSecret":secret}]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let response = app.post("/v1/sources", body).await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

fn joined(id: &str, room: &str, identity: &str, secs: i64) -> Value {
    json!({"event":"participant_joined","id":id,"createdAt":secs.to_string(),
        "room":{"sid":"RM_1","name":room},
        "participant":{"sid":format!("PA_{id}"),"identity":identity,"name":identity.to_uppercase(),
            "state":"ACTIVE","joinedAt":secs.to_string(),"joinedAtMs":(secs * 1000).to_string()}})
}

#[tokio::test]
async fn sources_are_configured_per_project_and_never_show_secrets() {
    let app = TestApp::spawn().await;
    let source = livekit_source(&app, "APIkey1", "s3cret-one", json!({})).await;
    let id = source["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("src_"), "{source}");
    assert_eq!(source["kind"], "livekit");
    assert_eq!(source["apiKeys"], json!(["APIkey1"]));
    assert_eq!(source["webhookPath"], format!("/v1/sources/{id}/livekit"));
    assert!(!source.to_string().contains("s3cret-one"));

    let listed: Value = app.get("/v1/sources").await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains("s3cret-one"));
    let one: Value = app
        .get(&format!("/v1/sources/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one, source);

    // An API key belongs to one source only.
    let again = app
        .post("/v1/sources", json!({"kind":"livekit","keys":[{"apiKey":"other","apiSecret":"x"},{"apiKey":"APIkey1","apiSecret":"y"}]}))
        .await;
    assert_error(again, StatusCode::CONFLICT, "conflict").await;
    // ...and the refused source left nothing behind: its first key is free.
    livekit_source(&app, "other", "x", json!({})).await;
    // The same key twice in one source is the same conflict.
    let twice = json!({"kind":"livekit","keys":[{"apiKey":"a","apiSecret":"b"},{"apiKey":"a","apiSecret":"c"}]});
    assert_error(
        app.post("/v1/sources", twice).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    for bad in [
        json!({"kind":"mediasoup","keys":[{"apiKey":"a","apiSecret":"b"}]}),
        json!({"kind":"livekit","keys":[]}),
        json!({"kind":"livekit","keys":[{"apiKey":"a b","apiSecret":"b"}]}),
        json!({"kind":"livekit","keys":[{"apiKey":"a","apiSecret":""}]}),
        json!({"kind":"livekit","keys":[{"apiKey":"a","apiSecret":"b"}],"hlsRewrite":{"from":"s3://x","to":"https://cdn"}}),
        json!({"kind":"livekit","keys":[{"apiKey":"a","apiSecret":"b"}],"hlsRewrite":{"from":"https://x/","to":"ftp://cdn/"}}),
    ] {
        assert_error(
            app.post("/v1/sources", bad.clone()).await,
            StatusCode::BAD_REQUEST,
            "invalid_source",
        )
        .await;
    }
    let missing = app.post("/v1/sources", json!({"keys":[]})).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    let anonymous = app_client()
        .get(app.url("/v1/sources"))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Deleting releases the key: its requests are refused from then on.
    let body = joined("EV_1", "r-1", "u", Timestamp::now().0 / 1000);
    let ok = post_livekit(&app, "/v1/sources/livekit", "APIkey1", "s3cret-one", &body).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let deleted = app_client()
        .delete(app.url(&format!("/v1/sources/{id}")))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.get(&format!("/v1/sources/{id}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let refused = post_livekit(&app, "/v1/sources/livekit", "APIkey1", "s3cret-one", &body).await;
    assert_error(refused, StatusCode::UNAUTHORIZED, "unauthorized").await;
    app.shutdown().await;
}

#[tokio::test]
async fn livekit_requests_are_verified_and_answered_honestly() {
    let app = TestApp::spawn().await;
    let a = livekit_source(&app, "key-a", "secret-a", json!({})).await;
    let b = livekit_source(&app, "key-b", "secret-b", json!({})).await;
    let (a_path, b_path) = (
        a["webhookPath"].as_str().unwrap().to_owned(),
        b["webhookPath"].as_str().unwrap().to_owned(),
    );
    let now = Timestamp::now().0 / 1000;
    let body = joined("EV_j1", "lk-room", "alice", now);

    // Missing header, unknown key, wrong secret, another source's path: 401 with a JSON error.
    let bare = app_client()
        .post(app.url("/v1/sources/livekit"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_error(bare, StatusCode::UNAUTHORIZED, "unauthorized").await;
    for (path, key, secret) in [
        ("/v1/sources/livekit", "key-x", "secret-a"),
        ("/v1/sources/livekit", "key-a", "secret-b"),
        (b_path.as_str(), "key-a", "secret-a"),
    ] {
        let response = post_livekit(&app, path, key, secret, &body).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    // The other source's path names the token's own key, nothing of that source.
    let crossed = post_livekit(&app, &b_path, "key-a", "secret-a", &body).await;
    let message = assert_error(crossed, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(
        message.contains("key-a") && !message.contains("key-b"),
        "{message}"
    );
    // A tampered body: signed for one, sent another.
    let token = sign("key-a", "secret-a", body.to_string().as_bytes(), now);
    let tampered = app_client()
        .post(app.url("/v1/sources/livekit"))
        .header("authorization", format!("Bearer {token}"))
        .body(body.to_string().replace("alice", "mallory"))
        .send()
        .await
        .unwrap();
    assert_error(tampered, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Applied, then a duplicate (LiveKit retries); the source's own path works the same.
    let first: Value = post_livekit(&app, &a_path, "key-a", "secret-a", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["outcome"], "applied", "{first}");
    assert_eq!(first["events"], 2, "session-started and participant-joined");
    let again = post_livekit(&app, "/v1/sources/livekit", "key-a", "secret-a", &body).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["outcome"], "duplicate");
    // Unknown events and fields are ignored with 200.
    let unknown = post_livekit(
        &app,
        &a_path,
        "key-a",
        "secret-a",
        &json!({"event":"room_teleported","id":"EV_u","createdAt":now.to_string(),"novel":1}),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::OK);
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(unknown["outcome"], "ignored");
    // Signed but not an event: 400.
    for junk in [
        json!([1, 2]),
        json!({"no":"event"}),
        json!({"event":"participant_joined","room":{"name":""},"participant":{"identity":"u"}}),
    ] {
        let response = post_livekit(&app, &a_path, "key-a", "secret-a", &junk).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_event").await;
    }
    // Media outside a session is ignored, not a 409 LiveKit would never retry.
    let egress = json!({"event":"egress_updated","id":"EV_e","createdAt":now.to_string(),
        "egressInfo":{"egressId":"EG_1","roomName":"empty-room","status":"EGRESS_ACTIVE",
            "roomComposite":{"fileOutputs":[{"filepath":"x.mp4"}]}}});
    let media: Value = post_livekit(&app, &a_path, "key-a", "secret-a", &egress)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(media["outcome"], "ignored", "{media}");

    // A room_finished from before this session started (a late retry) does not end it.
    let old = json!({"event":"room_finished","id":"EV_old","createdAt":(now - 3600).to_string(),
        "room":{"sid":"RM_0","name":"lk-room"}});
    let stale: Value = post_livekit(&app, &a_path, "key-a", "secret-a", &old)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stale["outcome"], "stale", "{stale}");

    let events = app.events("lk-room").await;
    let types: Vec<_> = events
        .iter()
        .map(|e| e["webhookType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["session-started", "participant-joined"]);
    app.shutdown().await;
}

#[tokio::test]
async fn source_secrets_are_sealed_at_rest_and_resealed_at_start() {
    let app = TestApp::spawn().await;
    livekit_source(&app, "sealed-key", "sealed-secret-value", json!({})).await;
    let stored = |db: RawDb| async move { db.strings("SELECT api_secret FROM source_keys").await };
    let values = stored(RawDb::of(&app).await).await;
    assert_eq!(values.len(), 1);
    assert!(
        !values[0].contains("sealed-secret-value"),
        "in the clear: {}",
        values[0]
    );
    let body = joined("EV_s1", "sealed-room", "u", Timestamp::now().0 / 1000);
    let ok = post_livekit(
        &app,
        "/v1/sources/livekit",
        "sealed-key",
        "sealed-secret-value",
        &body,
    )
    .await;
    assert_eq!(
        ok.status(),
        StatusCode::OK,
        "the sealed secret opens for verification"
    );

    // As a version before sealing left it: in the clear; the next start seals it.
    let config = app.config.clone();
    let dir = app.shutdown().await;
    let db = RawDb::open(&config.database_url).await;
    db.execute("UPDATE source_keys SET api_secret = 'plain-old-secret'")
        .await;
    drop(db);
    let app = TestApp::spawn_with(dir, config).await;
    let values = stored(RawDb::of(&app).await).await;
    assert!(
        !values[0].contains("plain-old-secret"),
        "not resealed: {}",
        values[0]
    );
    let body = joined("EV_s2", "sealed-room", "v", Timestamp::now().0 / 1000);
    let ok = post_livekit(
        &app,
        "/v1/sources/livekit",
        "sealed-key",
        "plain-old-secret",
        &body,
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    app.shutdown().await;
}
