//! A listing on PostgreSQL never pages past a row that commits after it was read.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cluster::start_nodes;
use crate::helpers::{eventually_within, fresh_postgres_database, join, KEY};

#[tokio::test]
#[cfg_attr(not(has_postgres), ignore = "needs TEST_POSTGRES_URL")]
async fn a_listing_never_pages_past_a_row_that_commits_later() {
    let Some(database_url) = fresh_postgres_database().await else {
        return;
    };
    let client = reqwest::Client::new();
    let nodes = start_nodes(1, &database_url, &client).await;
    let (mut db, connection) = tokio_postgres::connect(&database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let project_id: String = db
        .query_one("SELECT id FROM projects WHERE name = 'default'", &[])
        .await
        .unwrap()
        .get(0);
    // A slow transaction takes a position and holds it, uncommitted...
    let slow = db.transaction().await.unwrap();
    slow.execute(
        "INSERT INTO events (project_id, room_id, session_id, sequence, webhook_type, payload, created_at)
         VALUES ($1, 'slow', 's', 1, 'participant-joined', '\\x7b7d', 0)",
        &[&project_id],
    )
    .await
    .unwrap();
    // ...while a later one, with a higher position, commits.
    let response = client
        .post(nodes[0].url("/v1/signals"))
        .bearer_auth(KEY)
        .json(&json!({"signals": [join("f", "fast", "p", "2026-01-01T10:00:00Z")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);

    // A reader lists the log while the slow transaction is still open; it commits meanwhile.
    let listing = tokio::spawn(
        client
            .get(nodes[0].url("/v1/events?limit=500"))
            .bearer_auth(KEY)
            .send(),
    );
    // Commit only once the reader waits for the slow transaction: its wait loop's statement
    // shows in `pg_stat_activity` (this database only: other tests share the server).
    let (watcher, connection) = tokio_postgres::connect(&database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    eventually_within(Duration::from_secs(10), "the listing waits", || {
        let watcher = &watcher;
        async move {
            let waiting: i64 = watcher
                .query_one(
                    "SELECT COUNT(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND pid <> pg_backend_pid()
                       AND query NOT LIKE '%pg_stat_activity%'
                       AND query LIKE '%pg_xact_status%'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            waiting > 0
        }
    })
    .await;
    slow.commit().await.unwrap();
    let page: Value = listing.await.unwrap().unwrap().json().await.unwrap();
    let meetings: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["meetingId"].as_str().unwrap())
        .collect();
    // Had the reader returned "fast" alone, its cursor would have passed "slow" for good.
    assert_eq!(meetings.first(), Some(&"slow"), "{meetings:?}");
    assert!(meetings.contains(&"fast"), "{meetings:?}");
}
