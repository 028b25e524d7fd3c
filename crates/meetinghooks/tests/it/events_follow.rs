//! `GET /v1/events?follow=`: a poller's cursor is never null, and `new` starts exactly at the
//! end of the log, however long it is.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

async fn page(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("/v1/events?{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    response.json().await.unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn follow_new_starts_at_the_end_and_picks_up_exactly_what_follows() {
    let app = TestApp::spawn().await;
    let at = "2026-01-01T10:00:00Z";
    let empty = page(&app, "follow=new").await;
    assert_eq!(ids(&empty), Vec::<String>::new());
    let mut cursor = empty["nextCursor"].as_str().unwrap().to_owned();

    // Logs of many lengths, so the search for the end meets many shapes.
    let mut total = 0;
    for round in 1..=7 {
        let end = page(&app, "follow=new").await;
        assert!(ids(&end).is_empty(), "round {round}: {end}");
        let end_cursor = end["nextCursor"].as_str().unwrap().to_owned();
        // The end found by search is where the previous poll left off.
        assert_eq!(end_cursor, cursor, "round {round}");

        let signals: Vec<Value> = (0..round)
            .map(|i| join(&format!("f{round}-{i}"), &format!("m{round}-{i}"), "p", at))
            .collect();
        assert_eq!(app.signals(json!(signals)).await.status(), 202);
        total += 2 * round;

        let next = page(&app, &format!("follow=new&after={end_cursor}&limit=500")).await;
        let listed = ids(&next);
        assert_eq!(listed.len(), 2 * round, "round {round}: {next}");
        let meetings: Vec<&str> = next["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["meetingId"].as_str().unwrap())
            .collect();
        assert!(
            meetings
                .iter()
                .all(|m| m.starts_with(&format!("m{round}-"))),
            "round {round}: only this round's events: {meetings:?}"
        );
        cursor = next["nextCursor"].as_str().unwrap().to_owned();
        // Nothing new: an empty page that keeps the cursor.
        let idle = page(&app, &format!("follow=new&after={cursor}")).await;
        assert!(ids(&idle).is_empty());
        assert_eq!(idle["nextCursor"], cursor.as_str());
    }

    // `all` lists from the start, with a cursor on the last page too; plain listings keep null.
    let all = page(&app, "follow=all&limit=500").await;
    assert_eq!(ids(&all).len(), total);
    assert_eq!(all["nextCursor"], cursor.as_str());
    let plain = page(&app, "limit=500").await;
    assert_eq!(ids(&plain).len(), total);
    assert!(plain["nextCursor"].is_null());

    let message = assert_error(
        app.get("/v1/events?follow=later").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert!(message.contains("follow"), "{message}");
    app.shutdown().await;
}
