//! Past the connection cap, on real sockets: a new client is served at once, the connection
//! reading a head for longest is closed to make room, a connection in the middle of a request
//! never is, and heads get a shorter deadline while more than half the cap reads them.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

async fn app_with(adjust: impl FnOnce(&mut meetinghooks::Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    adjust(&mut config);
    TestApp::spawn_with(dir, config).await
}

/// A connection that sent half a request head and waits (std, non-blocking, so a check is
/// one `read` call on the socket itself).
fn half_open(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    stream.set_nonblocking(true).unwrap();
    stream
}

/// Whether the server closed it (end of stream, or a reset).
fn closed_by_server(mut stream: &TcpStream) -> bool {
    let mut buf = [0; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(_) => true,
    }
}

#[tokio::test]
async fn past_the_cap_the_oldest_head_makes_room_and_a_request_in_flight_stays() {
    let app = app_with(|c| {
        c.max_connections = 32;
        c.header_read_timeout = Duration::from_secs(60);
        c.idle_timeout = Duration::from_secs(60);
        c.api_request_timeout = Duration::from_secs(60);
    })
    .await;
    // Mid-request: a complete head, half a body.
    let mut in_flight = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let body = r#"{"signals":[]}"#;
    let head = format!(
        "POST /v1/signals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        &body[..5]
    );
    in_flight.write_all(head.as_bytes()).await.unwrap();
    // Half the cap reading heads (no pressure yet), the rest held by silent connections.
    let heads: Vec<_> = (0..16).map(|_| half_open(app.addr)).collect();
    let silent: Vec<_> = (0..15)
        .map(|_| TcpStream::connect(app.addr).unwrap())
        .collect();
    for s in &silent {
        s.set_nonblocking(true).unwrap();
    }

    // Each new client is answered at once; each takes the place of the oldest head.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let slowest = std::cell::Cell::new(Duration::ZERO);
    eventually("the oldest head is closed to make room", || {
        let (client, slowest) = (&client, &slowest);
        let url = app.url("/healthz");
        let first_closed = closed_by_server(&heads[0]);
        async move {
            let at = Instant::now();
            let answer = client.get(url).send().await.unwrap();
            assert_eq!(answer.status(), StatusCode::OK);
            slowest.set(slowest.get().max(at.elapsed()));
            first_closed
        }
    })
    .await;
    let slowest = slowest.get();
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
    // Oldest first: the newest head is still held, and so are the silent ones (too young).
    assert!(!closed_by_server(heads.last().unwrap()));
    assert!(!silent.iter().any(closed_by_server));

    // The request in flight was never a candidate: it completes and is answered.
    in_flight.write_all(&body.as_bytes()[5..]).await.unwrap();
    let mut answer = [0; 64];
    let n = tokio::time::timeout(TEST_DEADLINE, in_flight.read(&mut answer))
        .await
        .expect("an answer to the request in flight")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 "), "{answer:?}");
    assert!(!answer.starts_with("HTTP/1.1 5"), "{answer:?}");
    app.shutdown().await;
}

#[tokio::test]
async fn heads_get_a_shorter_deadline_when_more_than_half_the_cap_reads_them() {
    let app = app_with(|c| {
        c.max_connections = 32;
        c.header_read_timeout = Duration::from_secs(60);
        c.idle_timeout = Duration::from_secs(60);
    })
    .await;
    // A few heads: the full 60 s deadline; still held after more than the shorter one.
    let mut few: Vec<_> = (0..4).map(|_| half_open(app.addr)).collect();
    let pressed = meetinghooks::server::PRESSED_HEAD_TIMEOUT;
    let held_until = tokio::time::Instant::now() + pressed * 2;
    let still_held = tokio::time::timeout_at(held_until, async {
        eventually("a head is closed", || {
            let closed = few.iter().any(closed_by_server);
            async move { closed }
        })
        .await
    });
    assert!(still_held.await.is_err(), "a head closed without pressure");

    // More than half the cap (21 of 32): new heads are closed on the shorter deadline until
    // no more than half remain.
    let started = Instant::now();
    let mut heads: Vec<_> = (0..17).map(|_| half_open(app.addr)).collect();
    heads.append(&mut few);
    eventually("heads closed down to half the cap", || {
        heads.retain(|h| !closed_by_server(h));
        let down = heads.len() * 2 <= 32;
        async move { down }
    })
    .await;
    let took = started.elapsed();
    assert!(took >= pressed, "{took:?}");
    assert!(took < Duration::from_secs(60) / 2, "{took:?}");
    app.shutdown().await;
}
