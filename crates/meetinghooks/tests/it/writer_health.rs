//! A broken invariant inside ingest (an engine panic) fails that request with a 500 and
//! leaves the store serving: the SQLite writer goes on, PostgreSQL answers instead of
//! dropping the connection, and `/readyz` still tells the truth.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// Rewrites a meeting's stored state with raw SQL so that its next event overflows the
/// sequence counter (a panic in debug builds, where the tests run).
async fn break_sequence(app: &TestApp, meeting: &str) {
    let sql = format!(
        "UPDATE rooms SET state = replace(state, '\"sequence\":2', '\"sequence\":{}')
         WHERE room_id = '{meeting}'",
        u64::MAX
    );
    if apps_on_postgres() {
        let url = std::fs::read_to_string(app.dir.path().join("postgres-url")).unwrap();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let connection = tokio::spawn(connection);
        assert_eq!(client.execute(&sql, &[]).await.unwrap(), 1);
        drop(client);
        let _ = connection.await;
    } else {
        let conn = rusqlite::Connection::open(app.dir.path().join("meetinghooks.db")).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        assert_eq!(conn.execute(&sql, []).unwrap(), 1);
    }
}

#[tokio::test]
async fn an_engine_panic_fails_its_request_and_the_store_goes_on() {
    let app = TestApp::spawn().await;
    let ok = app
        .signals(json!([join("1", "boom", "p", "2026-01-01T10:00:00Z")]))
        .await;
    assert_eq!(ok.status(), StatusCode::ACCEPTED);
    break_sequence(&app, "boom").await;

    let broken = app
        .signals(json!([join("2", "boom", "q", "2026-01-01T10:00:01Z")]))
        .await;
    let message = assert_error(broken, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
    assert!(
        !message.contains("overflow"),
        "no internals leak: {message}"
    );

    // Another meeting is served at once.
    let other = app
        .signals(json!([join("2", "fine", "q", "2026-01-01T10:00:01Z")]))
        .await;
    assert_eq!(other.status(), StatusCode::ACCEPTED);
    assert_eq!(app.events("fine").await.len(), 2);
    assert_eq!(app.events("boom").await.len(), 2);

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    // Again: the writer still serves after the panic, and so does the next panic.
    let broken = app
        .signals(json!([join("3", "boom", "r", "2026-01-01T10:00:02Z")]))
        .await;
    assert_error(broken, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
    let other = app
        .signals(json!([join("3", "fine", "r", "2026-01-01T10:00:02Z")]))
        .await;
    assert_eq!(other.status(), StatusCode::ACCEPTED);
    app.shutdown().await;
}
