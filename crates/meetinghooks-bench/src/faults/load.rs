//! The fault scenario's load: meetings whose signals go to random nodes, one after another,
//! ~10% sent again to another node, and sent again elsewhere when a node does not answer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinSet;

use crate::server::KEY;

/// What the load did.
#[derive(Debug, Default)]
pub struct Sent {
    pub signals: AtomicUsize,
    pub resent: AtomicUsize,
    /// Requests that failed or timed out and were sent again elsewhere.
    pub retried: AtomicUsize,
    /// Signals no node accepted before the deadline.
    pub refused: AtomicUsize,
}

/// Each meeting: two participants join and leave, then a third joins and leaves (two
/// sessions). Meetings start `spread` apart; a meeting's signals are `pause` apart.
pub async fn run(
    client: reqwest::Client,
    ingest: Vec<String>,
    run: String,
    meetings: usize,
    spread: Duration,
    sent: Arc<Sent>,
) {
    let mut tasks = JoinSet::new();
    for m in 0..meetings {
        let (client, ingest, sent) = (client.clone(), ingest.clone(), sent.clone());
        let meeting = format!("{run}-m{m}");
        let start = spread * m as u32;
        tasks.spawn(async move {
            tokio::time::sleep(start).await;
            let script = [
                ("a", true),
                ("b", true),
                ("a", false),
                ("b", false),
                ("c", true),
                ("c", false),
            ];
            for (i, (participant, joined)) in script.into_iter().enumerate() {
                let kind = if joined {
                    "participant.joined"
                } else {
                    "participant.left"
                };
                let body = json!({"signals": [{
                    "id": format!("{meeting}-s{i}"), "type": kind, "meetingId": meeting,
                    "participantId": format!("{meeting}-{participant}"),
                    "participantName": participant, "reason": "left",
                }]});
                send(&client, &ingest, &body, &sent).await;
                tokio::time::sleep(Duration::from_millis(fastrand::u64(100..800))).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Sends one signal until a node accepts it (or 60 s pass); then, one time in ten, again to
/// another node.
async fn send(client: &reqwest::Client, ingest: &[String], body: &serde_json::Value, sent: &Sent) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut node = fastrand::usize(..ingest.len());
    loop {
        let answer = client
            .post(&ingest[node])
            .bearer_auth(KEY)
            .timeout(Duration::from_secs(2))
            .json(body)
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => break,
            Ok(r) if r.status().is_client_error() => {
                eprintln!("  faults: ingest answered {} to {body}", r.status());
                sent.refused.fetch_add(1, Ordering::Relaxed);
                return;
            }
            _ if Instant::now() > deadline => {
                sent.refused.fetch_add(1, Ordering::Relaxed);
                return;
            }
            _ => {
                sent.retried.fetch_add(1, Ordering::Relaxed);
                node = (node + 1) % ingest.len();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    sent.signals.fetch_add(1, Ordering::Relaxed);
    if fastrand::u32(0..10) == 0 {
        sent.resent.fetch_add(1, Ordering::Relaxed);
        let other = (node + 1 + fastrand::usize(..ingest.len() - 1)) % ingest.len();
        let _ = client
            .post(&ingest[other])
            .bearer_auth(KEY)
            .timeout(Duration::from_secs(2))
            .json(body)
            .send()
            .await;
    }
}
