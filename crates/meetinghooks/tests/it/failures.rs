//! Delivery failures where an operator looks: the server log (one warning per endpoint per
//! interval, disabled and recovered lines), `lastError` with its reason and kind, the
//! `webhook-attempt` header, and rooms' webhooks as endpoints.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, attempts, binary_path, database_url, eventually, free_port, join, leave,
    messages_of, post_json, TestApp, KEY, SECRET_KEY,
};
use crate::receiver::{Receiver, Reply};

/// A loopback URL where nothing listens: connecting is refused at once.
fn refusing_url() -> String {
    let port = free_port();
    format!("http://127.0.0.1:{port}/hooks")
}

/// Signals that make one `participant-joined` in `meeting`.
fn one_join(meeting: &str) -> Value {
    json!([join(
        &format!("{meeting}-j"),
        meeting,
        "p",
        "2026-01-01T10:00:00Z"
    )])
}

#[tokio::test]
async fn last_error_says_why_and_last_error_kind_says_what_kind() {
    let app = TestApp::delivering().await;
    let failing = Receiver::answering(500).await;
    let hanging = Receiver::start(|_, _| Reply::Hang).await;
    let events = json!(["participant-joined"]);
    let refused = app
        .endpoint(json!({"url": refusing_url(), "events": events}))
        .await;
    let http = app
        .endpoint(json!({"url": failing.url("/hooks"), "events": events}))
        .await;
    let slow = app
        .endpoint(json!({"url": hanging.url("/hooks"), "events": events, "timeoutSeconds": 1}))
        .await;
    assert_eq!(app.signals(one_join("m-errors")).await.status(), 202);

    let has_error = |m: &[Value]| m[0]["lastError"].is_string();
    let refused = app
        .wait_messages(refused["id"].as_str().unwrap(), has_error)
        .await;
    assert_eq!(refused[0]["lastError"], "connect: connection refused");
    assert_eq!(refused[0]["lastErrorKind"], "connect");
    assert_eq!(refused[0]["lastStatusCode"], Value::Null);
    let log = attempts(&app, refused[0]["id"].as_str().unwrap()).await;
    assert_eq!(
        log[0]["errorKind"], "connect",
        "the attempt log keeps the kind"
    );

    let http = app
        .wait_messages(http["id"].as_str().unwrap(), has_error)
        .await;
    assert_eq!(http[0]["lastError"], "http 500");
    assert_eq!(http[0]["lastErrorKind"], "http");
    assert_eq!(http[0]["lastStatusCode"], 500);
    let log = attempts(&app, http[0]["id"].as_str().unwrap()).await;
    assert_eq!(
        log[0]["errorKind"],
        Value::Null,
        "an answer is no error kind"
    );

    let slow = app
        .wait_messages(slow["id"].as_str().unwrap(), has_error)
        .await;
    assert_eq!(slow[0]["lastError"], "timeout: no answer within 1 s");
    assert_eq!(slow[0]["lastErrorKind"], "timeout");
    app.shutdown_now().await;
}

#[tokio::test]
async fn every_delivery_says_which_attempt_it_is() {
    let app = TestApp::delivering().await;
    // A 500 first, then success: the retry is attempt 2.
    let receiver = Receiver::start(|n, _| Reply::Status(if n == 0 { 500 } else { 200 })).await;
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/hooks"), "events": ["participant-joined"]}))
        .await;
    let endpoint_id = endpoint["id"].as_str().unwrap();
    app.signals(one_join("m-attempts")).await;
    let messages = app
        .wait_messages(endpoint_id, |m| m[0]["status"] == "succeeded")
        .await;
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].header("webhook-attempt"), "1");
    assert_eq!(got[1].header("webhook-attempt"), "2");
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    // A success clears the error, reason and kind alike.
    assert_eq!(messages[0]["lastError"], Value::Null);
    assert_eq!(messages[0]["lastErrorKind"], Value::Null);

    // A manual resend is an attempt too.
    let message_id = messages[0]["id"].as_str().unwrap();
    let resent = app
        .post(&format!("/v1/messages/{message_id}/resend"), json!({}))
        .await;
    assert_eq!(resent.status(), 200);
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].header("webhook-attempt"), "3");
    app.shutdown().await;
}

#[tokio::test]
async fn a_rooms_webhook_is_an_endpoint_you_can_list_and_read() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(200).await;
    let account = app
        .endpoint(json!({"url": receiver.url("/account"), "events": ["*"]}))
        .await;
    let room = app
        .post(
            "/v2/rooms",
            json!({"customRoomId": "hooked", "webhook": {"endPoint": receiver.url("/room"), "events": ["*"]}}),
        )
        .await;
    assert_eq!(room.status(), 201);
    app.signals(json!([
        join("r1", "hooked", "p", "2026-01-01T10:00:00Z"),
        leave("r2", "hooked", "p", "left", "2026-01-01T10:00:01Z")
    ]))
    .await;

    let listed: Value = app.get("/v1/endpoints").await.json().await.unwrap();
    let listed = listed["data"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:#?}");
    let (account_view, room_view) = if listed[0]["id"] == account["id"] {
        (&listed[0], &listed[1])
    } else {
        (&listed[1], &listed[0])
    };
    assert_eq!(account_view["kind"], "account");
    assert_eq!(account_view["roomId"], Value::Null);
    assert_eq!(room_view["kind"], "room");
    assert_eq!(room_view["roomId"], "hooked");
    assert_eq!(room_view["url"], receiver.url("/room"));
    assert!(room_view.get("secret").is_none(), "no secret in a listing");
    let room_endpoint = room_view["id"].as_str().unwrap().to_owned();

    // The endpointId in the messages is one the endpoints API knows.
    let base = app.url("");
    let messages = messages_of(&app.client, &base, KEY, &room_endpoint).await;
    assert!(!messages.is_empty());
    assert!(messages.iter().all(|m| m["meetingId"] == "hooked"));
    let one: Value = app
        .get(&format!("/v1/endpoints/{room_endpoint}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["kind"], "room");
    assert_eq!(one["roomId"], "hooked");

    for (kind, id) in [
        ("room", &room_endpoint),
        ("account", &account["id"].as_str().unwrap().to_owned()),
    ] {
        let only: Value = app
            .get(&format!("/v1/endpoints?kind={kind}"))
            .await
            .json()
            .await
            .unwrap();
        let ids: Vec<_> = only["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["id"])
            .collect();
        assert_eq!(ids, [id.as_str()], "?kind={kind}");
    }
    let message = assert_error(
        app.get("/v1/endpoints?kind=bogus").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert!(message.contains("account, room"), "{message}");

    // Its secret is the project's room-webhook secret.
    let secret: Value = app
        .get(&format!("/v1/endpoints/{room_endpoint}/secret"))
        .await
        .json()
        .await
        .unwrap();
    let room_secret: Value = app
        .get("/v1/room-webhooks/secret")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(secret["secret"], room_secret["secret"]);
    app.shutdown().await;
}

#[tokio::test]
async fn a_rooms_webhook_is_changed_through_its_room_but_can_be_disabled_here() {
    let app = TestApp::spawn().await;
    let room = app
        .post(
            "/v2/rooms",
            json!({"customRoomId": "owned", "webhook": {"endPoint": "https://example.com/hooks", "events": ["*"]}}),
        )
        .await;
    assert_eq!(room.status(), 201);
    let listed: Value = app
        .get("/v1/endpoints?kind=room")
        .await
        .json()
        .await
        .unwrap();
    let id = listed["data"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/endpoints/{id}");

    let message = assert_error(
        app.patch(&path, json!({"url": "https://example.org/hooks"}))
            .await,
        StatusCode::CONFLICT,
        "room_webhook",
    )
    .await;
    assert!(
        message.contains("room owned") && message.contains("POST /v2/rooms"),
        "{message}"
    );
    let message = assert_error(
        app.client
            .delete(app.url(&path))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap(),
        StatusCode::CONFLICT,
        "room_webhook",
    )
    .await;
    assert!(message.contains("disabled"), "{message}");
    let message = assert_error(
        app.post(&format!("{path}/secret/rotate"), json!({})).await,
        StatusCode::CONFLICT,
        "room_webhook",
    )
    .await;
    assert!(
        message.contains("/v1/room-webhooks/secret/rotate"),
        "{message}"
    );

    let disabled = app.patch(&path, json!({"disabled": true})).await;
    assert_eq!(disabled.status(), 200);
    let disabled: Value = disabled.json().await.unwrap();
    assert_eq!(disabled["disabled"], true);
    assert_eq!(disabled["url"], "https://example.com/hooks");
    let enabled: Value = app
        .patch(&path, json!({"disabled": false}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(enabled["disabled"], false);
    // Still there, unchanged but for the round trip.
    let again: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(again["kind"], "room");
    assert_eq!(again["disabled"], false);
    app.shutdown().await;
}

/// Lines the process writes, stdout and stderr alike, without colour codes.
type Lines = Arc<Mutex<Vec<String>>>;

fn collect_lines(
    from: impl std::io::Read + Send + 'static,
    into: Lines,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            into.lock().unwrap().push(without_ansi(&line));
        }
    })
}

fn without_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters… final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test]
async fn the_server_log_warns_once_per_dead_endpoint_and_says_when_it_is_back_or_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("meetinghooks.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\n\
             database_url = \"{}\"\n\
             bootstrap_api_key = \"{KEY}\"\n\
             secret_key = \"{SECRET_KEY}\"\n\
             log = \"info\"\n\
             allowed_private_targets = [\"127.0.0.0/8\"]\n\
             retry_schedule = [\"0ms\", \"100ms\", \"100ms\", \"100ms\"]\n\
             retry_jitter = 0.0\n\
             signal_max_age = \"3650d\"\n\
             metrics_listen = \"\"\n",
            database_url(dir.path())
        ),
    )
    .unwrap();
    let mut child = Command::new(binary_path())
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Lines = Arc::default();
    let readers = [
        collect_lines(child.stdout.take().unwrap(), lines.clone()),
        collect_lines(child.stderr.take().unwrap(), lines.clone()),
    ];
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    eventually("the binary is ready", || async {
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;

    let flaky = Receiver::start(|n, _| Reply::Status(if n == 0 { 500 } else { 200 })).await;
    let gone = Receiver::answering(410).await;
    let endpoint =
        |url: String, ordering: &str| json!({"url": url, "events": ["*"], "ordering": ordering});
    let endpoints_url = format!("{base}/v1/endpoints");
    // Every message of the dead endpoint fails four times, at once: 20 failures.
    let dead = post_json(&client, &endpoints_url, endpoint(refusing_url(), "none")).await;
    let flaky_ep = post_json(
        &client,
        &endpoints_url,
        json!({"url": flaky.url("/hooks"), "events": ["participant-joined"]}),
    )
    .await;
    let gone_ep = post_json(
        &client,
        &endpoints_url,
        endpoint(gone.url("/hooks"), "meeting"),
    )
    .await;
    let signals: Vec<Value> = (0..4)
        .map(|i| {
            join(
                &format!("j{i}"),
                "m-log",
                &format!("p{i}"),
                "2026-01-01T10:00:00Z",
            )
        })
        .collect();
    let report = post_json(
        &client,
        &format!("{base}/v1/signals"),
        json!({ "signals": signals }),
    )
    .await;
    assert_eq!(report["events"], 5, "{report}");

    let dead_id = dead["id"].as_str().unwrap();
    eventually("the dead endpoint's messages are exhausted", || async {
        let messages = messages_of(&client, &base, KEY, dead_id).await;
        messages.len() == 5 && messages.iter().all(|m| m["status"] == "exhausted")
    })
    .await;
    let flaky_id = flaky_ep["id"].as_str().unwrap();
    let gone_id = gone_ep["id"].as_str().unwrap();
    eventually(
        "the flaky endpoint recovers and the gone one is disabled",
        || async {
            let messages = messages_of(&client, &base, KEY, flaky_id).await;
            let gone: Value = client
                .get(format!("{base}/v1/endpoints/{gone_id}"))
                .bearer_auth(KEY)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            messages.iter().all(|m| m["status"] == "succeeded") && gone["disabled"] == true
        },
    )
    .await;
    let attempts: u64 = messages_of(&client, &base, KEY, dead_id)
        .await
        .iter()
        .map(|m| m["attempts"].as_u64().unwrap())
        .sum();
    assert_eq!(attempts, 20);

    // A graceful stop writes every line before the process exits.
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    assert!(child.wait().unwrap().success());
    for reader in readers {
        reader.join().unwrap();
    }
    let lines = lines.lock().unwrap().clone();
    let about = |endpoint_id: &str, what: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.contains(what) && l.contains(&format!("endpoint=\"{endpoint_id}\"")))
            .cloned()
            .collect()
    };

    let warned = about(dead_id, "delivery attempt failed");
    assert_eq!(warned.len(), 1, "one warning for 20 failures: {lines:#?}");
    let line = &warned[0];
    assert!(line.contains("WARN"), "{line}");
    for field in [
        "message_id=\"msg_",
        "meeting=\"m-log\"",
        "attempt=1",
        "error_kind=\"connect\"",
        "reason=\"connect: connection refused\"",
        "next=\"20",
        "suppressed=0",
    ] {
        assert!(line.contains(field), "{field} missing in {line}");
    }

    let warned = about(flaky_id, "delivery attempt failed");
    assert_eq!(warned.len(), 1, "{lines:#?}");
    assert!(warned[0].contains("status=500"), "{}", warned[0]);
    assert!(
        warned[0].contains("reason=\"http 500: ok\""),
        "{}",
        warned[0]
    );
    let recovered = about(flaky_id, "endpoint recovered");
    assert_eq!(recovered.len(), 1, "{lines:#?}");
    assert!(recovered[0].contains("INFO") && recovered[0].contains("failures=1"));

    let disabled = about(gone_id, "endpoint disabled");
    assert_eq!(disabled.len(), 1, "{lines:#?}");
    assert!(disabled[0].contains("410 Gone"), "{}", disabled[0]);
    let warned = about(gone_id, "delivery attempt failed");
    assert!(
        warned.len() == 1 && warned[0].contains("next=\"disabled\""),
        "{lines:#?}"
    );
}
