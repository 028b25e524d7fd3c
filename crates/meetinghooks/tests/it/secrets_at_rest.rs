//! Secrets at rest: signing secrets, room secrets, header values and URL credentials are
//! sealed in the database, opened for delivery, sealed again after a key change, and the key file is private.

use std::process::{Command, Stdio};

use base64::Engine;
use meetinghooks::config::Secret;
use meetinghooks_webhooks::Webhook;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::raw_db::RawDb;
use crate::receiver::Receiver;

/// The Standard Webhooks test-vector secret, written in the clear as rows were before sealing.
const PLAIN_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const HEADER_VALUE: &str = "Bearer header-value-never-stored";
/// Credentials in a webhook URL: the password must not be in any row or file.
const URL_PASSWORD: &str = "url-pa55word-never-stored";
/// A second valid key, for rotation.
const OTHER_KEY: &str = "Zm9yLXRlc3RzLW9ubHktMzItYnl0ZXMtb2Yta2V5ISE=";

/// Every secret-bearing column of every endpoint and project, as stored.
async fn stored_secrets(db: &RawDb) -> Vec<String> {
    let mut values = db
        .strings(
            "SELECT secret || ' ' || COALESCE(secret_previous, '') || ' ' || headers FROM endpoints",
        )
        .await;
    values.extend(
        db.strings(
            "SELECT COALESCE(room_secret, '') || ' ' || COALESCE(room_secret_previous, '')
             FROM projects",
        )
        .await,
    );
    values
}

/// Every stored webhook URL: endpoints' and rooms' webhook settings.
async fn stored_urls(db: &RawDb) -> Vec<String> {
    let mut values = db.strings("SELECT url FROM endpoints").await;
    values.extend(
        db.strings("SELECT webhook FROM rooms WHERE webhook IS NOT NULL")
            .await,
    );
    values
}

/// The receiver's URL with `user:URL_PASSWORD@` in it.
fn with_credentials(receiver: &Receiver, path: &str) -> String {
    receiver
        .url(path)
        .replace("http://", &format!("http://user:{URL_PASSWORD}@"))
}

/// Sends a test event; returns the `Authorization` header the receiver got with it.
async fn test_send(app: &TestApp, receiver: &Receiver, endpoint_id: &str, count: usize) -> String {
    let response = app
        .post(
            &format!("/v1/endpoints/{endpoint_id}/test"),
            json!({"webhookType": "recording-started"}),
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    let got = receiver
        .wait_for("the test send", |r| r.len() == count)
        .await;
    got.last().unwrap().header("authorization").to_owned()
}

#[tokio::test]
async fn no_secret_or_header_value_is_readable_in_the_database() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(204).await;
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/hook"), "headers": {"Authorization": HEADER_VALUE}}))
        .await;
    let id = endpoint["id"].as_str().unwrap();
    let rotated: Value = app
        .post(&format!("/v1/endpoints/{id}/secret/rotate"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let room = app
        .post(
            "/v2/rooms",
            json!({"webhook": {"endPoint": with_credentials(&receiver, "/room"), "events": ["session-started"]}}),
        )
        .await;
    assert!(room.status().is_success(), "{}", room.status());
    let with_url = app
        .endpoint(json!({"url": with_credentials(&receiver, "/creds")}))
        .await;

    let db = RawDb::of(&app).await;
    let stored = stored_secrets(&db).await;
    assert!(stored.len() >= 3, "{stored:?}");
    for value in &stored {
        assert!(!value.contains("whsec_"), "a secret in the clear: {value}");
        assert!(
            !value.contains(HEADER_VALUE),
            "a header value in the clear: {value}"
        );
        assert!(value.contains("sealed:v1:"), "not sealed: {value}");
    }
    let urls = stored_urls(&db).await;
    assert_eq!(
        urls.len(),
        4,
        "three endpoints and a room's setting: {urls:?}"
    );
    for url in &urls {
        assert!(
            !url.contains(URL_PASSWORD),
            "a URL password in the clear: {url}"
        );
    }
    if let Some(path) = app.config.database_url.strip_prefix("sqlite://") {
        // The file and its write-ahead log, byte for byte.
        for file in [path.to_owned(), format!("{path}-wal")] {
            let bytes = std::fs::read(&file).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("whsec_"), "whsec_ found in {file}");
            assert!(
                !text.contains(HEADER_VALUE),
                "the header value found in {file}"
            );
            assert!(
                !text.contains(URL_PASSWORD),
                "the URL password found in {file}"
            );
        }
    }

    // Delivery opens them: the header goes out as written, signed with the rotated secret.
    assert_eq!(test_send(&app, &receiver, id, 1).await, HEADER_VALUE);
    let sent = receiver.delivered();
    let new = Webhook::new(rotated["secret"].as_str().unwrap()).unwrap();
    new.verify(&sent[0].headers, &sent[0].body).unwrap();
    // And the sealed URL opens: its credentials go out as Basic authorization.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("user:{URL_PASSWORD}"));
    let with_url = with_url["id"].as_str().unwrap();
    assert_eq!(
        test_send(&app, &receiver, with_url, 2).await,
        format!("Basic {basic}")
    );
}

#[tokio::test]
async fn rows_written_before_sealing_are_sealed_at_the_next_start() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(204).await;
    let endpoint = app.endpoint(json!({"url": receiver.url("/hook")})).await;
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let room = app.post("/v2/rooms", json!({})).await;
    assert!(room.status().is_success(), "{}", room.status());
    let config = app.config.clone();
    let dir = app.shutdown().await;

    // As an older version left them: in the clear.
    let db = RawDb::open(&config.database_url).await;
    let headers = r#"{"X-Plain":"plain-header-value"}"#;
    let url = with_credentials(&receiver, "/hook");
    db.execute(&format!(
        "UPDATE endpoints SET secret = '{PLAIN_SECRET}', headers = '{headers}', url = '{url}'
         WHERE id = '{id}'"
    ))
    .await;
    let webhook = json!({"endPoint": url, "events": ["*"]}).to_string();
    db.execute(&format!("UPDATE rooms SET webhook = '{webhook}'"))
        .await;
    drop(db);

    let app = TestApp::spawn_with(dir, config).await;
    let db = RawDb::of(&app).await;
    for value in stored_secrets(&db).await {
        assert!(
            !value.contains("whsec_") && !value.contains("plain-header-value"),
            "{value}"
        );
    }
    let urls = stored_urls(&db).await;
    assert_eq!(urls.len(), 2, "the endpoint's and the room's: {urls:?}");
    for url in urls {
        assert!(!url.contains(URL_PASSWORD), "{url}");
    }
    test_send(&app, &receiver, &id, 1).await;
    let sent = receiver.delivered();
    assert_eq!(sent[0].header("x-plain"), "plain-header-value");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("user:{URL_PASSWORD}"));
    assert_eq!(sent[0].header("authorization"), format!("Basic {basic}"));
    Webhook::new(PLAIN_SECRET)
        .unwrap()
        .verify(&sent[0].headers, &sent[0].body)
        .unwrap();
}

#[tokio::test]
async fn a_new_key_reseals_everything_and_a_missing_key_stops_the_start() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(204).await;
    let endpoint = app.endpoint(json!({"url": receiver.url("/hook")})).await;
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let secret = Webhook::new(endpoint["secret"].as_str().unwrap()).unwrap();
    let old_key = app.config.secret_key.clone().unwrap();
    let mut config = app.config.clone();
    let dir = app.shutdown().await;
    let before = stored_secrets(&RawDb::open(&config.database_url).await).await;

    // The new key seals; the old one may still open.
    config.secret_key = Some(Secret(OTHER_KEY.into()));
    config.previous_secret_keys = vec![old_key.clone()];
    let app = TestApp::spawn_with(dir, config.clone()).await;
    let after = stored_secrets(&RawDb::of(&app).await).await;
    assert_ne!(before, after, "nothing was sealed again");
    let dir = app.shutdown().await;

    // Without the old key, everything still opens: nothing is left sealed with it.
    config.previous_secret_keys = Vec::new();
    let app = TestApp::spawn_with(dir, config.clone()).await;
    test_send(&app, &receiver, &id, 1).await;
    let sent = receiver.delivered();
    secret.verify(&sent[0].headers, &sent[0].body).unwrap();
    let dir = app.shutdown().await;

    // The old key alone opens nothing: the start fails and says why.
    config.secret_key = Some(old_key);
    let error = meetinghooks::app::open_store(&config)
        .await
        .err()
        .expect("a start with the wrong key must fail");
    let message = format!("{error:#}");
    assert!(message.contains("not configured"), "{message}");
    drop(dir);
}

/// Runs the real binary on an SQLite file without a key until `/readyz` answers, then kills
/// it; returns what it logged.
async fn serve_once(dir: &std::path::Path, db: &std::path::Path) -> String {
    let port = free_port();
    let log = dir.join(format!("serve-{port}.log"));
    let mut child = Command::new(binary_path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env(
            "MEETINGHOOKS_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .env("MEETINGHOOKS_BOOTSTRAP_API_KEY", KEY)
        .env("MEETINGHOOKS_LOG", "warn")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{port}/readyz");
    eventually("the binary is ready", || async {
        client
            .get(&ready)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    std::fs::read_to_string(&log).unwrap()
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn sqlite_without_a_key_creates_a_private_key_file_and_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data").join("meetinghooks.db");
    serve_once(dir.path(), &db).await;
    let key_file = dir.path().join("data").join("secret.key");
    assert_eq!(mode(&key_file), 0o600, "the key file");
    assert_eq!(mode(&db), 0o600, "the database file");
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert!(meetinghooks::sealing::parse_key(&key).is_some(), "{key:?}");
}

#[tokio::test]
async fn files_an_older_version_left_0644_are_made_private_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let db = data.join("meetinghooks.db");
    serve_once(dir.path(), &db).await;
    // As an older version left them: readable by everyone.
    let files = [
        "meetinghooks.db",
        "meetinghooks.db-wal",
        "meetinghooks.db-shm",
        "secret.key",
    ]
    .map(|name| data.join(name));
    for file in &files {
        assert!(file.exists(), "{} after a kill", file.display());
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }

    let log = serve_once(dir.path(), &db).await;
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
        let told = log
            .lines()
            .filter(|line| {
                line.contains("tightened") && line.ends_with(&format!("path={}", file.display()))
            })
            .count();
        assert_eq!(told, 1, "one line for {} in:\n{log}", file.display());
    }
    // Once tightened, nothing more to say.
    let log = serve_once(dir.path(), &db).await;
    assert!(!log.contains("tightened"), "{log}");
}
