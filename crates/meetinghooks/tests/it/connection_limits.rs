//! The accept loop's limits on real sockets: a request head that never completes and a silent
//! connection are closed on their deadlines, a streaming response is not idle however long it
//! lasts (but ends when its key is revoked), a peer that stops reading is, a slow request gets
//! a 408, body caps are per route, and too low an open-files limit is refused at start. (Past
//! the cap: `shedding`.)

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

async fn app_with(adjust: impl FnOnce(&mut meetinghooks::Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    adjust(&mut config);
    TestApp::spawn_with(dir, config).await
}

/// Reads until the server closes the connection; returns what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(TEST_DEADLINE, stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_request_head_that_never_completes_is_closed() {
    let app = app_with(|c| {
        c.header_read_timeout = Duration::from_millis(400);
        c.idle_timeout = Duration::from_secs(60);
    })
    .await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // A byte now and then does not move the deadline: it runs from the head's first byte.
    let mut drip = tokio::time::interval(Duration::from_millis(100));
    let closed = async {
        loop {
            drip.tick().await;
            if stream.write_all(b"X-Slow: 1\r\n").await.is_err() {
                return;
            }
        }
    };
    tokio::time::timeout(TEST_DEADLINE, closed)
        .await
        .expect("the server closes a head that never completes");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(400), "{took:?}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_silent_or_idle_connection_is_closed() {
    let app = app_with(|c| {
        c.header_read_timeout = Duration::from_secs(60);
        c.idle_timeout = Duration::from_millis(300);
    })
    .await;
    // Silent from the start.
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let started = Instant::now();
    assert_eq!(read_to_close(&mut silent).await, "");
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Idle after an answer (keep-alive): the answer comes, then the close.
    let mut kept = TcpStream::connect(app.addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut kept).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_request_whose_body_never_ends_gets_a_408() {
    let app = app_with(|c| c.api_request_timeout = Duration::from_millis(300)).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /v1/signals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"signals\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0; 4096];
    let n = tokio::time::timeout(TEST_DEADLINE, stream.read(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    app.shutdown().await;
}

#[tokio::test]
async fn body_caps_are_per_route() {
    let app = app_with(|c| {
        c.body_limit = 1024;
        c.signals_body_limit = 8 * 1024;
    })
    .await;
    let padded = |bytes: usize| "p".repeat(bytes);
    // 2 KiB: too much for an endpoint, fine for a batch of signals.
    let endpoint = app
        .post(
            "/v1/endpoints",
            json!({"url": "https://example.com/hooks", "description": padded(2048)}),
        )
        .await;
    assert_error(endpoint, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let signal = json!({"id": padded(100), "type": "participant.joined", "meetingId": "m",
        "participantId": "p", "participantName": padded(200)});
    let batch: Vec<_> = (0..6).map(|_| signal.clone()).collect();
    assert!(
        serde_json::to_vec(&json!({"signals": batch}))
            .unwrap()
            .len()
            > 2048
    );
    let accepted = app.signals(json!(batch)).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let too_big: Vec<_> = (0..30).map(|_| signal.clone()).collect();
    assert_error(
        app.signals(json!(too_big)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    app.shutdown().await;
}

/// A dashboard session's cookie, as a browser gets it from the sign-in form.
async fn dashboard_cookie(app: &TestApp, key: &str) -> String {
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/ui/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("api_key={key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let set = answer.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_streaming_response_outlives_the_idle_timeout() {
    let idle = Duration::from_millis(300);
    let app = app_with(|c| {
        c.idle_timeout = idle;
        c.header_read_timeout = Duration::from_secs(60);
    })
    .await;
    let cookie = dashboard_cookie(&app, KEY).await;
    let mut stream = reqwest::Client::new()
        .get(app.url("/ui/live/stream"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    // Five idle timeouts with nothing to send but the greeting: the stream must stay open.
    let open_until = tokio::time::Instant::now() + idle * 5;
    let mut text = String::new();
    loop {
        match tokio::time::timeout_at(open_until, stream.chunk()).await {
            Err(_) => break,
            Ok(Ok(Some(bytes))) => text.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(ended) => panic!("the stream ended within 5 idle timeouts: {ended:?} {text}"),
        }
    }
    // Still live: a new event comes down the same response.
    let join = json!({"id": "s-1", "type": "participant.joined", "meetingId": "long-stream",
        "participantId": "p", "participantName": "Later"});
    assert_eq!(
        app.signals(json!([join])).await.status(),
        StatusCode::ACCEPTED
    );
    let brought = tokio::time::Instant::now() + TEST_DEADLINE;
    while !text.contains("long-stream") {
        let chunk = tokio::time::timeout_at(brought, stream.chunk())
            .await
            .expect("the event within the test deadline")
            .unwrap()
            .unwrap_or_else(|| panic!("the stream ended: {text}"));
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(stream);
    app.shutdown().await;
}

#[tokio::test]
async fn a_stream_ends_once_its_key_is_revoked() {
    let app = app_with(|_| {}).await;
    let created = app.create_api_key(KEY).await;
    let key = created["key"].as_str().unwrap();
    let cookie = dashboard_cookie(&app, key).await;
    let mut stream = reqwest::Client::new()
        .get(app.url("/ui/live/stream"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let revoked = app
        .client
        .delete(app.url(&format!("/v1/api-keys/{}", created["id"].as_str().unwrap())))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success(), "{}", revoked.status());
    // The stream re-checks its session every 15 s, as a page load would: then it ends.
    let ended = async { while let Ok(Some(_)) = stream.chunk().await {} };
    tokio::time::timeout(TEST_DEADLINE, ended)
        .await
        .expect("the stream of a revoked key ends");
    app.shutdown().await;
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_closed_after_the_idle_timeout() {
    let app = app_with(|c| {
        c.idle_timeout = Duration::from_millis(300);
        c.header_read_timeout = Duration::from_secs(60);
    })
    .await;
    // Pipelined requests whose answers are never read: the server's writes block, and the
    // connection is closed (reset) rather than held while a response waits to be flushed.
    // (A body that never ends with its writes blocked: `server::watchdog`'s unit tests.)
    let stream = TcpStream::connect(app.addr).await.unwrap();
    let (_reader, mut writer) = stream.into_split();
    let requests = async {
        let request = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n";
        loop {
            if writer.write_all(request).await.is_err() {
                return;
            }
        }
    };
    tokio::time::timeout(TEST_DEADLINE, requests)
        .await
        .expect("the server closes a connection whose peer does not read");
    app.shutdown().await;
}

#[tokio::test]
async fn serve_refuses_an_open_files_limit_too_low_to_serve() {
    let dir = tempfile::tempdir().unwrap();
    // A hard limit of 200: after the database, files and deliveries, too few connections.
    let script = format!(
        "ulimit -n 200 && exec '{}' serve --listen 127.0.0.1:0",
        binary_path().display()
    );
    let run = tokio::process::Command::new("sh")
        .args(["-c", &script])
        .env("MEETINGHOOKS_DATABASE_URL", database_url(dir.path()))
        .env("MEETINGHOOKS_BOOTSTRAP_API_KEY", KEY)
        .env("MEETINGHOOKS_SECRET_KEY", SECRET_KEY)
        .env("MEETINGHOOKS_METRICS_LISTEN", "")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(TEST_DEADLINE, run)
        .await
        .expect("serve exits instead of serving")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("open-files limit (200)"), "{stderr}");
    assert!(stderr.contains("LimitNOFILE"), "{stderr}");
}
