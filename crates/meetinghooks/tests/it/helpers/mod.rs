//! Shared test helpers: an app on port 0 with its own database, an API client, polling, and
//! fresh databases on the test PostgreSQL.

mod process;
pub use process::*;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use meetinghooks::config::Secret;
use meetinghooks::Config;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub const KEY: &str = "test-key-0123456789abcdef";
/// The `secret_key` of test apps and nodes (PostgreSQL requires one; nodes share it).
pub const SECRET_KEY: &str = "ngVaFR6jSL63zXcAz7hb9PFlvjOKHkJc+g8sBWwIaAU=";

/// The sealer of `SECRET_KEY`, for tests that open a store directly.
pub fn test_sealer() -> std::sync::Arc<meetinghooks::sealing::Sealer> {
    let key = meetinghooks::sealing::parse_key(SECRET_KEY).expect("a valid test key");
    std::sync::Arc::new(meetinghooks::sealing::Sealer::new(key, &[]))
}

/// How long a test waits for something to happen before failing. Generous: CI machines are
/// shared, and a deadline only bounds how long a broken test takes to fail.
pub const TEST_DEADLINE: Duration = Duration::from_secs(30);

/// The app running in-process on an ephemeral port, with a private database.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub key: String,
    pub dir: tempfile::TempDir,
    pub config: Config,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// The admin URL of the PostgreSQL that tests may use (`TEST_POSTGRES_URL`).
/// CI always provides one; elsewhere tests that need it are skipped, saying so.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must set TEST_POSTGRES_URL (see .ci/run)"
            );
            eprintln!("skipped: TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// Creates an empty database on the test PostgreSQL and returns its URL.
pub async fn fresh_postgres_database() -> Option<String> {
    let admin = postgres_admin_url()?;
    let name = format!("test_{:016x}", rand::random::<u64>());
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .expect("connecting to the test PostgreSQL");
    let connection = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    drop(client);
    let _ = connection.await;
    let (base, database) = admin
        .rsplit_once('/')
        .expect("the admin URL names a database");
    // The admin URL's options (`?sslmode=…`) hold for the new database too.
    let options = database.find('?').map_or("", |at| &database[at..]);
    Some(format!("{base}/{name}{options}"))
}

/// Whether the in-process test apps run on PostgreSQL (`TEST_STORE=postgres`)
/// instead of SQLite: CI runs the whole suite both ways.
pub fn apps_on_postgres() -> bool {
    std::env::var("TEST_STORE").is_ok_and(|s| s == "postgres")
}

/// The database of the app whose data folder is `dir`: a SQLite file in it, or with
/// `TEST_STORE=postgres` a fresh PostgreSQL database, remembered in the folder so that a
/// restarted app finds it again.
pub fn database_url(dir: &Path) -> String {
    if !apps_on_postgres() {
        return format!("sqlite://{}", dir.join("meetinghooks.db").display());
    }
    let remembered = dir.join("postgres-url");
    if let Ok(url) = std::fs::read_to_string(&remembered) {
        return url;
    }
    // Callers may be synchronous; the database is created on a runtime of its own.
    let url = std::thread::spawn(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(fresh_postgres_database())
    })
    .join()
    .unwrap()
    .expect("TEST_STORE=postgres needs TEST_POSTGRES_URL");
    std::fs::write(&remembered, &url).unwrap();
    url
}

pub fn test_config(dir: &Path) -> Config {
    let database_url = database_url(dir);
    Config {
        database_url,
        bootstrap_api_key: Some(Secret(KEY.into())),
        secret_key: Some(Secret(SECRET_KEY.into())),
        reconnect_grace: Duration::from_secs(2),
        // The tests' signals carry fixed times from the past.
        signal_max_age: Duration::from_secs(10 * 365 * 86_400),
        metrics_listen: meetinghooks::config::MetricsListen(None),
        ..Config::default()
    }
}

/// Delivery to loopback allowed, quick retries without jitter, 1 s timeouts.
pub fn delivery_config(dir: &Path) -> Config {
    Config {
        allowed_private_targets: vec!["127.0.0.0/8".into(), "::1/128".into()],
        retry_schedule: [0, 200, 400, 400].map(Duration::from_millis).to_vec(),
        retry_jitter: 0.0,
        request_timeout: Duration::from_secs(1),
        shutdown_grace: Duration::from_secs(2),
        ..test_config(dir)
    }
}

impl TestApp {
    /// `POST /v1/api-keys` with the key `with`: the new key's JSON (its `key` shown once).
    pub async fn create_api_key(&self, with: &str) -> Value {
        let response = self
            .client
            .post(self.url("/v1/api-keys"))
            .bearer_auth(with)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// A second project in this app's database, made the operator's way (`project create`
    /// on the real binary): its API key.
    pub fn create_project_with_cli(&self, name: &str) -> String {
        let output = std::process::Command::new(binary_path())
            .args(["project", "create", name])
            .env("MEETINGHOOKS_DATABASE_URL", &self.config.database_url)
            .env("MEETINGHOOKS_SECRET_KEY", SECRET_KEY)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        let key = stdout.lines().find_map(|l| l.strip_prefix("api key: "));
        key.unwrap().to_owned()
    }

    /// An app that may deliver to receivers on loopback.
    pub async fn delivering() -> TestApp {
        Self::delivering_with(|_| {}).await
    }

    pub async fn delivering_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let mut config = delivery_config(dir.path());
        adjust(&mut config);
        Self::spawn_with(dir, config).await
    }

    /// Creates an endpoint and returns its JSON (with the secret).
    pub async fn endpoint(&self, body: Value) -> Value {
        let response = self.post("/v1/endpoints", body).await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Messages of an endpoint, oldest first.
    pub async fn messages(&self, endpoint_id: &str) -> Vec<Value> {
        let page: Value = self
            .get(&format!("/v1/messages?endpointId={endpoint_id}&limit=500"))
            .await
            .json()
            .await
            .unwrap();
        page["data"].as_array().unwrap().clone()
    }

    pub async fn spawn() -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let config = test_config(dir.path());
        Self::spawn_with(dir, config).await
    }

    pub async fn spawn_with(dir: tempfile::TempDir, config: Config) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(meetinghooks::run(config.clone(), listener, async {
            let _ = stopped.await;
        }));
        let app = TestApp {
            addr,
            client: reqwest::Client::new(),
            key: KEY.into(),
            dir,
            config,
            stop: Some(stop),
            task: Some(task),
        };
        eventually("the app is ready", || async {
            app.client
                .get(app.url("/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        app
    }

    /// Polls an endpoint's messages until `check` holds; returns them.
    pub async fn wait_messages(
        &self,
        endpoint_id: &str,
        check: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + TEST_DEADLINE;
        loop {
            let messages = self.messages(endpoint_id).await;
            if !messages.is_empty() && check(&messages) {
                return messages;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "messages never settled: {messages:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops without waiting for the shutdown to finish (for tests that leave attempts hanging).
    pub async fn shutdown_now(mut self) {
        let _ = self.stop.take().unwrap().send(());
    }

    /// Stops gracefully and returns the data folder, so a test can start again on it.
    pub async fn shutdown(mut self) -> tempfile::TempDir {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
        self.dir
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap()
    }

    pub async fn signals(&self, signals: Value) -> Response {
        self.post("/v1/signals", json!({ "signals": signals }))
            .await
    }

    /// Every event of a meeting, following cursors.
    pub async fn events(&self, meeting_id: &str) -> Vec<Value> {
        events_of(&self.client, &self.url(""), &self.key, meeting_id).await
    }
}

pub async fn events_of(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    meeting_id: &str,
) -> Vec<Value> {
    every_page(
        client,
        &format!("{base}/v1/events?meetingId={meeting_id}"),
        key,
    )
    .await
}

/// Every message of an endpoint, following cursors.
pub async fn messages_of(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    endpoint_id: &str,
) -> Vec<Value> {
    every_page(
        client,
        &format!("{base}/v1/messages?endpointId={endpoint_id}"),
        key,
    )
    .await
}

/// Every item of a listing (`url` has a query already), following `nextCursor`.
async fn every_page(client: &reqwest::Client, url: &str, key: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let page: Value = client
            .get(format!("{url}&limit=500{after}"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        out.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(cursor) => after = format!("&after={cursor}"),
            None => return out,
        }
    }
}

/// Polls `check` until it holds, failing the test after `TEST_DEADLINE`.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_within(TEST_DEADLINE, what, check).await
}

/// Polls `check` until it holds, failing the test after `deadline`.
pub async fn eventually_within<F, Fut>(deadline: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + deadline;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> String {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

pub fn join(id: &str, meeting: &str, participant: &str, at: &str) -> Value {
    json!({"id": id, "type": "participant.joined", "meetingId": meeting, "at": at,
           "participantId": participant, "participantName": format!("Name {participant}")})
}

pub fn leave(id: &str, meeting: &str, participant: &str, reason: &str, at: &str) -> Value {
    json!({"id": id, "type": "participant.left", "meetingId": meeting, "at": at,
           "participantId": participant, "reason": reason})
}

/// POSTs JSON with the test key and returns the JSON answer.
pub async fn post_json(client: &reqwest::Client, url: &str, body: Value) -> Value {
    client
        .post(url)
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A message's attempt log, oldest first.
pub async fn attempts(app: &TestApp, message_id: &str) -> Vec<Value> {
    let page: Value = app
        .get(&format!("/v1/messages/{message_id}/attempts"))
        .await
        .json()
        .await
        .unwrap();
    page["data"].as_array().unwrap().clone()
}

/// Payloads exactly as stored: the raw text of each `payload` in the events response.
pub async fn raw_payloads(app: &TestApp, meeting: &str) -> Vec<String> {
    let text = app
        .get(&format!("/v1/events?meetingId={meeting}&limit=500"))
        .await
        .text()
        .await
        .unwrap();
    #[derive(serde::Deserialize)]
    struct Page<'a> {
        #[serde(borrow)]
        data: Vec<Item<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Item<'a> {
        #[serde(borrow)]
        payload: &'a serde_json::value::RawValue,
    }
    let page: Page<'_> = serde_json::from_str(&text).unwrap();
    page.data
        .iter()
        .map(|i| i.payload.get().to_owned())
        .collect()
}
