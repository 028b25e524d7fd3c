//! The real binary under a slowloris: thousands of loopback connections that send half a
//! request head and never finish it. A normal client keeps getting 200 from `/readyz` on new
//! connections, deliveries keep flowing, the server closes the half-open connections on its
//! head deadline, and its memory comes back near where it started.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::delivery::joins;
use crate::helpers::*;
use crate::receiver::Receiver;

const HALF_OPEN: usize = 3_000;

/// Resident memory of a process, in KiB, from `/proc`.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// One half-open connection: half a head, then wait for the server to hang up. Returns
/// whether the server closed it (rather than the test's deadline ending it).
async fn half_open(addr: std::net::SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return false;
    };
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut sink = Vec::new();
    tokio::time::timeout(TEST_DEADLINE, stream.read_to_end(&mut sink))
        .await
        .is_ok()
}

#[tokio::test]
async fn half_open_connections_do_not_starve_the_api_or_deliveries() {
    // The test process holds its side of every connection too.
    let soft = meetinghooks::server::raise_nofile_limit().unwrap_or(1024) as usize;
    let count = HALF_OPEN.min(soft.saturating_sub(256) / 2);
    let dir = tempfile::tempdir().unwrap();
    let server = Binary::serve(
        dir.path(),
        &[
            ("MEETINGHOOKS_ALLOWED_PRIVATE_TARGETS", "[\"127.0.0.0/8\"]"),
            // The default head deadline (10 s): opening thousands of connections on a loaded
            // machine can take seconds, and the first must still be held when the last arrive.
        ],
    );
    let pid = server.child.id();
    // A fresh connection per request, as a new client (or a load balancer's probe) has.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    server.wait_ready(&client).await;
    let receiver = Receiver::answering(200).await;
    let endpoint = json!({"url": receiver.url("/hooks"), "events": ["participant-joined"]});
    post_json(&client, &server.url("/v1/endpoints"), endpoint).await;
    let signals = |meeting: &str| json!({"signals": joins(meeting, 0, 5)});
    post_json(&client, &server.url("/v1/signals"), signals("warm-up")).await;
    receiver
        .wait_for("the warm-up deliveries", |r| r.len() == 5)
        .await;
    let baseline = rss_kib(pid);

    let started = Instant::now();
    let mut attackers = JoinSet::new();
    for _ in 0..count {
        attackers.spawn(half_open(server.addr));
    }
    // Nearly all at once: a few may still sit in the accept queue.
    eventually("the server holds the half-open connections", || async {
        open_fds(pid) >= count * 9 / 10
    })
    .await;
    let fds_under_attack = open_fds(pid);

    // While they are held: new connections get answers, and a delivery goes out.
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let at = Instant::now();
        let ready = client.get(server.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), StatusCode::OK);
        slowest = slowest.max(at.elapsed());
    }
    let during = client
        .post(server.url("/v1/signals"))
        .bearer_auth(KEY)
        .json(&signals("under-attack"))
        .send()
        .await
        .unwrap();
    assert_eq!(during.status(), StatusCode::ACCEPTED);
    receiver
        .wait_for("deliveries during the attack", |r| r.len() == 10)
        .await;
    let peak = rss_kib(pid);

    // The server hangs up on every one of them by itself.
    let mut closed_by_server = 0;
    while let Some(closed) = attackers.join_next().await {
        closed_by_server += usize::from(closed.unwrap());
    }
    assert_eq!(closed_by_server, count);
    let attack_took = started.elapsed();
    // Near the baseline: within 16 MiB, where 3,000 held connections took tens of MiB.
    let after = std::cell::Cell::new(peak);
    eventually("memory back near the baseline", || {
        after.set(rss_kib(pid));
        let near = after.get() <= baseline + 16 * 1024;
        async move { near }
    })
    .await;
    let after = after.get();
    let ready = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    println!(
        "slowloris: {count} half-open connections, {fds_under_attack} server fds held, \
         all closed by the server after {attack_took:?}; slowest /readyz during: {slowest:?}; \
         RSS baseline {baseline} KiB, peak {peak} KiB, after {after} KiB"
    );
}
