//! Crash safety on the real binary: `kill -9` mid-stream loses no acknowledged signal.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use meetinghooks::domain::timestamp::Timestamp;
use serde_json::{json, Value};

use crate::helpers::*;

const MEETINGS: usize = 8;

fn signal(n: usize) -> Value {
    join(
        &format!("sig-{n}"),
        &format!("crash-{}", n % MEETINGS),
        &format!("p{n}"),
        "2026-01-01T10:00:00Z",
    )
}

#[tokio::test]
async fn kill_9_mid_stream_loses_no_acknowledged_signal() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let server = Binary::serve(dir.path(), &[]);
    server.wait_ready(&client).await;

    let acked: Arc<Mutex<HashSet<usize>>> = Arc::default();
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..4 {
        let (client, url, acked) = (client.clone(), server.url("/v1/signals"), acked.clone());
        writers.spawn(async move {
            for n in (w..).step_by(4).take(5_000) {
                let sent = client
                    .post(&url)
                    .bearer_auth(KEY)
                    .json(&json!({"signals": [signal(n)]}))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 202 => {
                        acked.lock().unwrap().insert(n);
                    }
                    _ => return n,
                }
            }
            5_000 * 4
        });
    }
    eventually("some signals acknowledged", || async {
        acked.lock().unwrap().len() >= 300
    })
    .await;
    server.kill9();
    let mut sent_up_to = 0;
    while let Some(stopped_at) = writers.join_next().await {
        sent_up_to = sent_up_to.max(stopped_at.unwrap());
    }
    let acked = acked.lock().unwrap().clone();

    let server = Binary::serve(dir.path(), &[]);
    server.wait_ready(&client).await;
    let base = server.url("");
    let joins = |events: Vec<Vec<Value>>| {
        let mut per_participant: HashMap<String, usize> = HashMap::new();
        for meeting in &events {
            for (i, e) in meeting.iter().enumerate() {
                assert_eq!(e["sequence"], i as u64 + 1, "sequence gap");
                if e["webhookType"] == "participant-joined" {
                    *per_participant
                        .entry(
                            e["payload"]["data"]["participantId"]
                                .as_str()
                                .unwrap()
                                .to_owned(),
                        )
                        .or_default() += 1;
                }
            }
        }
        per_participant
    };
    let mut all = Vec::new();
    for m in 0..MEETINGS {
        all.push(events_of(&client, &base, KEY, &format!("crash-{m}")).await);
    }
    let after_crash = joins(all);
    for n in &acked {
        assert_eq!(
            after_crash.get(&format!("p{n}")),
            Some(&1),
            "acknowledged signal {n} lost"
        );
    }
    assert!(
        after_crash.values().all(|c| *c == 1),
        "an event was duplicated"
    );

    // Resending everything, as a platform retrying would, duplicates nothing.
    for chunk in (0..=sent_up_to).collect::<Vec<_>>().chunks(500) {
        let batch: Vec<Value> = chunk.iter().map(|n| signal(*n)).collect();
        let report = post_json(
            &client,
            &server.url("/v1/signals"),
            json!({ "signals": batch }),
        )
        .await;
        assert!(
            report["duplicates"].as_u64().unwrap()
                >= chunk.iter().filter(|n| acked.contains(n)).count() as u64
        );
    }
    let mut all = Vec::new();
    for m in 0..MEETINGS {
        all.push(events_of(&client, &base, KEY, &format!("crash-{m}")).await);
    }
    let after_resend = joins(all);
    assert_eq!(after_resend.len(), sent_up_to + 1);
    assert!(
        after_resend.values().all(|c| *c == 1),
        "an event was duplicated"
    );
}

#[tokio::test]
async fn a_pending_grace_fires_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let env = [("MEETINGHOOKS_RECONNECT_GRACE", "1s")];
    let server = Binary::serve(dir.path(), &env);
    server.wait_ready(&client).await;
    let now = Timestamp::now().to_rfc3339();
    let response = client
        .post(server.url("/v1/signals"))
        .bearer_auth(KEY)
        .json(&json!({"signals": [join("1", "g", "p", &now), leave("2", "g", "p", "disconnected", &now)]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    server.kill9();

    let server = Binary::serve(dir.path(), &env);
    server.wait_ready(&client).await;
    let base = server.url("");
    eventually("the persisted grace fires", || async {
        events_of(&client, &base, KEY, "g").await.len() == 4
    })
    .await;
    let events = events_of(&client, &base, KEY, "g").await;
    assert_eq!(events[2]["webhookType"], "participant-left");
    assert_eq!(events[3]["webhookType"], "session-ended");
}
