//! Signal ids are idempotency keys per meeting: the same id in another meeting is a new
//! signal, and ids remembered before the upgrade that made them per meeting stay duplicates.

use serde_json::{json, Value};

use crate::helpers::*;

fn report(accepted: usize, duplicates: usize, events: usize) -> Value {
    json!({"accepted": accepted, "duplicates": duplicates, "stale": 0, "events": events, "messages": 0})
}

#[tokio::test]
async fn the_same_id_in_another_meeting_is_a_new_signal() {
    let app = TestApp::spawn().await;
    let first: Value = app
        .signals(json!([join("sig-1", "a", "p", "2026-01-01T10:00:00Z")]))
        .await
        .json()
        .await
        .unwrap();
    // session-started and participant-joined.
    assert_eq!(first, report(1, 0, 2));
    let other: Value = app
        .signals(json!([join("sig-1", "b", "p", "2026-01-01T10:00:00Z")]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(other, report(1, 0, 2));
    assert_eq!(app.events("b").await[0]["webhookType"], "session-started");

    // In one batch: the same id for two new meetings is two signals, and a repeat in the
    // same meeting is a duplicate.
    let batch: Value = app
        .signals(json!([
            join("sig-2", "c", "p", "2026-01-01T10:00:00Z"),
            join("sig-2", "d", "p", "2026-01-01T10:00:00Z"),
            join("sig-2", "c", "q", "2026-01-01T10:00:01Z"),
        ]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(batch, report(2, 1, 4));
    // And across requests, the same meeting still deduplicates.
    let again: Value = app
        .signals(json!([join("sig-1", "a", "p", "2026-01-01T10:00:00Z")]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, report(0, 1, 0));
    assert_eq!(app.events("a").await.len(), 2);
    assert_eq!(app.events("c").await.len(), 2);
    assert_eq!(app.events("d").await.len(), 2);
    app.shutdown().await;
}

const SQLITE_BEFORE: &[&str] = &[
    include_str!("../../src/store/sqlite/migrations/0001_init.sql"),
    include_str!("../../src/store/sqlite/migrations/0002_delivery.sql"),
    include_str!("../../src/store/sqlite/migrations/0003_last_error_kind.sql"),
];
const POSTGRES_BEFORE: &[&str] = &[
    include_str!("../../src/store/postgres/migrations/0001_init.sql"),
    include_str!("../../src/store/postgres/migrations/0002_last_error_kind.sql"),
];

/// The `default` project with one remembered signal, `old-1`, as a store from before the
/// upgrade (signals keyed per project) held them.
const REMEMBERED: &str =
    "INSERT INTO projects (id, name, created_at) VALUES ('prj_old', 'default', 0);
     INSERT INTO signals (project_id, signal_id, received_at) VALUES ('prj_old', 'old-1', 0);";

/// After the upgrade, an id remembered before it is still a duplicate in any meeting (its
/// meeting was never stored), while new ids are per meeting.
async fn ids_from_before_the_upgrade_stay_duplicates(app: TestApp) {
    for meeting in ["a", "b"] {
        let report_of: Value = app
            .signals(json!([join("old-1", meeting, "p", "2026-01-01T10:00:00Z")]))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(report_of, report(0, 1, 0), "old-1 in {meeting}");
    }
    for meeting in ["a", "b"] {
        let report_of: Value = app
            .signals(json!([join("new-1", meeting, "p", "2026-01-01T10:00:00Z")]))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(report_of, report(1, 0, 2), "new-1 in {meeting}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn sqlite_ids_from_before_the_upgrade_stay_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for (index, sql) in SQLITE_BEFORE.iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", index as i64 + 1)
                .unwrap();
        }
        conn.execute_batch(REMEMBERED).unwrap();
    }
    let config = meetinghooks::Config {
        database_url: format!("sqlite://{}", path.display()),
        ..test_config(dir.path())
    };
    ids_from_before_the_upgrade_stay_duplicates(TestApp::spawn_with(dir, config).await).await;
}

#[tokio::test]
#[cfg_attr(not(has_postgres), ignore = "needs TEST_POSTGRES_URL")]
async fn postgres_ids_from_before_the_upgrade_stay_duplicates() {
    let Some(url) = fresh_postgres_database().await else {
        return;
    };
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    client
        .batch_execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await
        .unwrap();
    for (index, sql) in POSTGRES_BEFORE.iter().enumerate() {
        client.batch_execute(sql).await.unwrap();
        client
            .execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)",
                &[&(index as i32 + 1)],
            )
            .await
            .unwrap();
    }
    client.batch_execute(REMEMBERED).await.unwrap();
    drop(client);
    let _ = connection.await;
    let dir = tempfile::tempdir().unwrap();
    let config = meetinghooks::Config {
        database_url: url,
        ..test_config(dir.path())
    };
    ids_from_before_the_upgrade_stay_duplicates(TestApp::spawn_with(dir, config).await).await;
}
