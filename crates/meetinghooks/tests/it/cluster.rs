//! Several real `meetinghooks serve` processes on one PostgreSQL: losing a node, restarting
//! the database, one meeting fed through two nodes at once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    events_of, eventually_within, fresh_postgres_database, join, leave, messages_of, post_json,
    postgres_admin_url, Binary, KEY, SECRET_KEY,
};
use crate::receiver::{Received, Receiver, Reply};

/// Quick retries, short leases (a dead node's work is taken over after 3 s).
fn node_env(database_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("MEETINGHOOKS_DATABASE_URL", database_url.to_owned()),
        ("MEETINGHOOKS_SECRET_KEY", SECRET_KEY.into()),
        ("MEETINGHOOKS_ALLOWED_PRIVATE_TARGETS", "[\"127.0.0.0/8\"]".into()),
        (
            "MEETINGHOOKS_RETRY_SCHEDULE",
            "[\"0s\", \"100ms\", \"200ms\", \"300ms\", \"400ms\", \"500ms\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\", \"1s\"]"
                .into(),
        ),
        ("MEETINGHOOKS_RETRY_JITTER", "0".into()),
        ("MEETINGHOOKS_LEASE_DURATION", "3s".into()),
        ("MEETINGHOOKS_REQUEST_TIMEOUT", "1s".into()),
        // At most a third of the lease each, as the configuration requires.
        ("MEETINGHOOKS_DATABASE_STATEMENT_TIMEOUT", "1s".into()),
        ("MEETINGHOOKS_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT", "1s".into()),
        ("MEETINGHOOKS_DATABASE_LOCK_TIMEOUT", "500ms".into()),
        ("MEETINGHOOKS_DATABASE_MAX_CONNECTIONS", "8".into()),
    ]
}

pub(crate) async fn start_nodes(
    count: usize,
    database_url: &str,
    client: &reqwest::Client,
) -> Vec<Binary> {
    let env = node_env(database_url);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<Binary> = (0..count)
        .map(|_| Binary::serve(dir.path(), &env))
        .collect();
    for node in &nodes {
        node.wait_ready(client).await;
    }
    nodes
}

/// Every message of an endpoint, through one node.
async fn all_messages(client: &reqwest::Client, node: &Binary, endpoint_id: &str) -> Vec<Value> {
    messages_of(client, &node.url(""), KEY, endpoint_id).await
}

/// No message of a meeting reached the receiver before every earlier one had a 2xx.
fn assert_meeting_order(requests: &[Received]) {
    let mut delivered: HashMap<String, HashSet<u64>> = HashMap::new();
    for request in requests {
        let meeting = request.json()["data"]["meetingId"]
            .as_str()
            .unwrap()
            .to_owned();
        let sequence: u64 = request.header("webhook-sequence").parse().unwrap();
        let done = delivered.entry(meeting.clone()).or_default();
        for earlier in 1..sequence {
            assert!(
                done.contains(&earlier),
                "{meeting}: sequence {sequence} was sent before {earlier} was delivered"
            );
        }
        if request.answered.is_some_and(|s| (200..300).contains(&s)) {
            done.insert(sequence);
        }
    }
}

fn batch(round: usize, meetings: usize, size: usize) -> Value {
    let signals: Vec<Value> = (0..size)
        .map(|i| {
            join(
                &format!("r{round}-{i}"),
                &format!("meeting-{}", i % meetings),
                &format!("p{round}-{i}"),
                "2026-01-01T10:00:00Z",
            )
        })
        .collect();
    json!({ "signals": signals })
}

#[tokio::test]
#[cfg_attr(not(has_postgres), ignore = "needs TEST_POSTGRES_URL")]
async fn a_killed_node_loses_nothing_and_breaks_no_meeting_order() {
    let Some(database_url) = fresh_postgres_database().await else {
        return;
    };
    let client = reqwest::Client::new();
    // Every fifth request fails, so retries interleave with new messages on every node.
    let receiver = Receiver::start(|n, _| Reply::Status(if n % 5 == 2 { 500 } else { 200 })).await;
    let mut nodes = start_nodes(3, &database_url, &client).await;
    let created = post_json(
        &client,
        &nodes[0].url("/v1/endpoints"),
        json!({"url": receiver.url("/"), "events": ["*"], "ordering": "meeting"}),
    )
    .await;
    let endpoint_id = created["id"].as_str().unwrap().to_owned();
    let (rounds, meetings, size) = (40, 8, 10);
    let mut killed = false;
    for round in 0..rounds {
        if round == rounds / 3 {
            receiver
                .wait_for("deliveries under way", |r| r.len() >= 30)
                .await;
            // Node 1 dies mid-delivery; its leased messages must be taken over.
            nodes.remove(1).kill9();
            killed = true;
        }
        let node = &nodes[round % nodes.len()];
        let response = client
            .post(node.url("/v1/signals"))
            .bearer_auth(KEY)
            .json(&batch(round, meetings, size))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    assert!(killed);

    let expected = rounds * size + meetings;
    eventually_within(
        Duration::from_secs(90),
        "every message delivered",
        || async {
            let messages = all_messages(&client, &nodes[0], &endpoint_id).await;
            messages.len() == expected && messages.iter().all(|m| m["status"] == "succeeded")
        },
    )
    .await;
    let received = receiver.received();
    let delivered: HashSet<&str> = received
        .iter()
        .filter(|r| r.answered.is_some_and(|s| (200..300).contains(&s)))
        .map(|r| r.header("webhook-id"))
        .collect();
    for message in all_messages(&client, &nodes[0], &endpoint_id).await {
        let id = message["id"].as_str().unwrap();
        assert!(delivered.contains(id), "{id} was never answered with a 2xx");
    }
    assert_meeting_order(&received);
}

#[tokio::test]
#[cfg_attr(not(has_postgres), ignore = "needs TEST_POSTGRES_URL")]
async fn one_meeting_through_two_nodes_keeps_the_engine_invariants() {
    let Some(database_url) = fresh_postgres_database().await else {
        return;
    };
    let client = reqwest::Client::new();
    let nodes = start_nodes(2, &database_url, &client).await;
    let people = 30;
    // Each signal goes to both nodes at the same time: the meeting is fed twice, concurrently.
    let send_everywhere = |signal: Value| {
        let client = client.clone();
        let urls: Vec<String> = nodes.iter().map(|n| n.url("/v1/signals")).collect();
        async move {
            // A 503 (the pool or a lock busy on a loaded machine) is retried, as clients do.
            let post = |url: &String| {
                let (client, url, body) = (
                    client.clone(),
                    url.clone(),
                    json!({ "signals": [signal.clone()] }),
                );
                async move {
                    for _ in 0..20 {
                        let response = client.post(&url).bearer_auth(KEY).json(&body).send();
                        let status = response.await.unwrap().status();
                        if status != StatusCode::SERVICE_UNAVAILABLE {
                            return status;
                        }
                    }
                    StatusCode::SERVICE_UNAVAILABLE
                }
            };
            for status in join_all(urls.iter().map(post)).await {
                assert_eq!(status, StatusCode::ACCEPTED);
            }
        }
    };
    let joins = (0..people).map(|i| {
        send_everywhere(join(
            &format!("j{i}"),
            "shared",
            &format!("p{i}"),
            "2026-01-01T10:00:00Z",
        ))
    });
    join_all(joins).await;
    let leaves = (0..people).map(|i| {
        send_everywhere(leave(
            &format!("l{i}"),
            "shared",
            &format!("p{i}"),
            "left",
            "2026-01-01T10:30:00Z",
        ))
    });
    join_all(leaves).await;

    let events = events_of(&client, &nodes[1].url(""), KEY, "shared").await;
    let sequences: Vec<u64> = events
        .iter()
        .map(|e| e["sequence"].as_u64().unwrap())
        .collect();
    let contiguous: Vec<u64> = (1..=events.len() as u64).collect();
    assert_eq!(sequences, contiguous, "one gap-free sequence per meeting");
    let of_type = |t: &str| {
        events
            .iter()
            .filter(|e| e["webhookType"] == t)
            .map(|e| {
                e["payload"]["data"]["participantId"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(events[0]["webhookType"], "session-started");
    assert_eq!(of_type("session-started").len(), 1);
    let joined: HashSet<_> = of_type("participant-joined").into_iter().collect();
    let left: HashSet<_> = of_type("participant-left").into_iter().collect();
    assert_eq!(
        of_type("participant-joined").len(),
        people,
        "each joined once"
    );
    assert_eq!(of_type("participant-left").len(), people, "each left once");
    assert_eq!(joined, left);
    assert_eq!(events.last().unwrap()["webhookType"], "session-ended");
}

/// A PostgreSQL server of this test's own, which it may stop and start (`scripts/postgres`).
struct PrivatePostgres {
    dir: tempfile::TempDir,
    url: String,
}

fn postgres_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/postgres")
}

impl PrivatePostgres {
    fn run(&self, command: &str) -> String {
        let output = Command::new(postgres_script())
            .args([command, &self.dir.path().display().to_string()])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "scripts/postgres {command}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    fn start() -> PrivatePostgres {
        let mut server = PrivatePostgres {
            dir: tempfile::tempdir().unwrap(),
            url: String::new(),
        };
        server.url = server.run("start");
        server
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = Command::new(postgres_script())
            .args(["stop", &self.dir.path().display().to_string()])
            .output();
    }
}

#[tokio::test]
#[cfg_attr(not(has_postgres), ignore = "needs TEST_POSTGRES_URL")]
async fn a_database_restart_mid_load_loses_no_acknowledged_signal() {
    // Needs a PostgreSQL installation; the shared test server is not touched.
    if postgres_admin_url().is_none() {
        return;
    }
    let postgres = PrivatePostgres::start();
    let client = reqwest::Client::new();
    let receiver = Receiver::answering(200).await;
    let nodes = start_nodes(2, &postgres.url, &client).await;
    let created = post_json(
        &client,
        &nodes[0].url("/v1/endpoints"),
        json!({"url": receiver.url("/"), "events": ["participant-joined"]}),
    )
    .await;
    let endpoint_id = created["id"].as_str().unwrap().to_owned();

    let (meetings, size) = (4, 5);
    let mut acknowledged = Vec::new();
    let mut refused = Vec::new();
    let send = |round: usize| {
        let (client, url) = (client.clone(), nodes[round % 2].url("/v1/signals"));
        async move {
            let response = client
                .post(url)
                .bearer_auth(KEY)
                .json(&batch(round, meetings, size))
                .send()
                .await
                .unwrap();
            response.status()
        }
    };
    for round in 0..10 {
        assert_eq!(send(round).await, StatusCode::ACCEPTED);
        acknowledged.push(round);
    }
    postgres.run("stop");
    // While the database is down: never a 202, and the nodes say they are not ready.
    for round in 10..16 {
        let status = send(round).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "round {round}");
        refused.push(round);
    }
    for node in &nodes {
        let ready = client.get(node.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        // It names the dependency, not the database's error text (that goes to the log).
        let body: serde_json::Value = ready.json().await.unwrap();
        assert_eq!(
            body,
            serde_json::json!({"status": "unavailable", "failing": ["database"]})
        );
    }
    postgres.run("start");
    // The nodes recover by themselves.
    for node in &nodes {
        eventually_within(
            Duration::from_secs(30),
            "the node is ready again",
            || async {
                client
                    .get(node.url("/readyz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            },
        )
        .await;
    }
    for round in 16..26 {
        eventually_within(Duration::from_secs(30), "ingest accepted again", || async {
            send(round).await == StatusCode::ACCEPTED
        })
        .await;
        acknowledged.push(round);
    }
    // A client retries what was refused; ids make the retry safe.
    for round in refused {
        assert_eq!(send(round).await, StatusCode::ACCEPTED);
        acknowledged.push(round);
    }

    let mut joined: Vec<String> = Vec::new();
    for m in 0..meetings {
        let events = events_of(&client, &nodes[0].url(""), KEY, &format!("meeting-{m}")).await;
        joined.extend(
            events
                .iter()
                .filter(|e| e["webhookType"] == "participant-joined")
                .map(|e| {
                    e["payload"]["data"]["participantId"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                }),
        );
    }
    let unique: HashSet<&String> = joined.iter().collect();
    assert_eq!(unique.len(), joined.len(), "no signal applied twice");
    for round in &acknowledged {
        for i in 0..size {
            let participant = format!("p{round}-{i}");
            assert!(
                unique.contains(&participant),
                "{participant} was acknowledged, then lost"
            );
        }
    }
    assert_eq!(joined.len(), acknowledged.len() * size);
    eventually_within(
        Duration::from_secs(60),
        "every message delivered",
        || async {
            let messages = all_messages(&client, &nodes[1], &endpoint_id).await;
            messages.len() == joined.len() && messages.iter().all(|m| m["status"] == "succeeded")
        },
    )
    .await;
}

#[tokio::test]
#[cfg_attr(not(has_postgres), ignore = "needs TEST_POSTGRES_URL")]
async fn a_grace_armed_by_a_dead_node_fires_once_on_another() {
    let Some(database_url) = fresh_postgres_database().await else {
        return;
    };
    let client = reqwest::Client::new();
    let mut env = node_env(&database_url);
    env.push(("MEETINGHOOKS_RECONNECT_GRACE", "1s".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<Binary> = (0..3).map(|_| Binary::serve(dir.path(), &env)).collect();
    for node in &nodes {
        node.wait_ready(&client).await;
    }
    let meetings = 20;
    let mut signals = Vec::new();
    for m in 0..meetings {
        let meeting = format!("grace-{m}");
        signals.push(join(
            &format!("j{m}"),
            &meeting,
            "stays",
            "2026-01-01T10:00:00Z",
        ));
        signals.push(join(
            &format!("k{m}"),
            &meeting,
            "drops",
            "2026-01-01T10:00:01Z",
        ));
        signals.push(leave(
            &format!("d{m}"),
            &meeting,
            "drops",
            "disconnected",
            "2026-01-01T10:00:02Z",
        ));
    }
    let mut nodes = nodes.into_iter();
    let armer = nodes.next().unwrap();
    let response = client
        .post(armer.url("/v1/signals"))
        .bearer_auth(KEY)
        .json(&json!({ "signals": signals }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    // The node that armed every grace dies before any of them is due.
    armer.kill9();
    let survivors: Vec<Binary> = nodes.collect();

    let left_events = |meeting: String| {
        let (client, base) = (client.clone(), survivors[0].url(""));
        async move {
            events_of(&client, &base, KEY, &meeting)
                .await
                .into_iter()
                .filter(|e| e["webhookType"] == "participant-left")
                .count()
        }
    };
    for m in 0..meetings {
        eventually_within(
            Duration::from_secs(30),
            "the grace fired on a surviving node",
            || {
                let count = left_events(format!("grace-{m}"));
                async move { count.await >= 1 }
            },
        )
        .await;
    }
    // Two surviving nodes both run timers: still one participant-left per meeting.
    for m in 0..meetings {
        assert_eq!(left_events(format!("grace-{m}")).await, 1, "grace-{m}");
    }
}
