//! Rooms, sessions, ending a session on request, and event-log pagination.

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn rooms_are_created_with_a_webhook_and_read_back() {
    let app = TestApp::spawn().await;
    let created = app
        .post("/v2/rooms", json!({"webhook": {"endPoint": "https://example.com/hook", "events": ["recording-*", "session-ended"]}}))
        .await;
    assert_eq!(created.status(), 201);
    let room: Value = created.json().await.unwrap();
    let id = room["roomId"].as_str().unwrap();
    let parts: Vec<&str> = id.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [4, 4, 4],
        "{id}"
    );
    assert_eq!(room["customRoomId"], Value::Null);
    let fetched: Value = app
        .get(&format!("/v2/rooms/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, room);
    assert_eq!(
        fetched["webhook"],
        json!({"endPoint": "https://example.com/hook", "events": ["recording-*", "session-ended"]})
    );

    let custom = app
        .post("/v2/rooms", json!({"customRoomId": "daily-standup"}))
        .await;
    assert_eq!(custom.status(), 201);
    // The same customRoomId again updates the webhook of that room.
    let again = app
        .post("/v2/rooms", json!({"customRoomId": "daily-standup", "webhook": {"endPoint": "https://example.com/h2", "events": ["*"]}}))
        .await;
    assert_eq!(again.status(), 200);
    let room: Value = again.json().await.unwrap();
    assert_eq!(room["roomId"], "daily-standup");
    assert_eq!(room["webhook"]["events"], json!(["*"]));
    app.shutdown().await;
}

#[tokio::test]
async fn a_signal_for_an_unknown_meeting_creates_its_room() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/v2/rooms/fresh-room").await.status(), 404);
    app.signals(json!([join(
        "1",
        "fresh-room",
        "p",
        "2026-01-01T10:00:00Z"
    )]))
    .await;
    let room: Value = app.get("/v2/rooms/fresh-room").await.json().await.unwrap();
    assert_eq!(room["roomId"], "fresh-room");
    app.shutdown().await;
}

#[tokio::test]
async fn ending_a_session_removes_everyone() {
    let app = TestApp::spawn().await;
    app.signals(json!([
        join("1", "r", "p1", "2026-01-01T10:00:00Z"),
        join("2", "r", "p2", "2026-01-01T10:00:01Z"),
        {"id":"3","type":"livestream.started","meetingId":"r","at":"2026-01-01T10:00:02Z"},
    ]))
    .await;
    let page: Value = app.get("/v2/sessions?roomId=r").await.json().await.unwrap();
    assert_eq!(page["data"][0]["status"], "ongoing");
    assert_eq!(
        page["data"][0]["participants"][1]["timelog"][0]["end"],
        Value::Null
    );

    let ended = app.post("/v2/sessions/end", json!({"roomId": "r"})).await;
    assert_eq!(ended.status(), 200);
    let session: Value = ended.json().await.unwrap();
    assert_eq!(session["status"], "ended");
    let types: Vec<Value> = app
        .events("r")
        .await
        .iter()
        .map(|e| e["webhookType"].clone())
        .collect();
    assert_eq!(
        types,
        json!([
            "session-started",
            "participant-joined",
            "participant-joined",
            "livestream-started",
            "participant-left",
            "participant-left",
            "livestream-stopped",
            "session-ended"
        ])
        .as_array()
        .unwrap()
        .clone()
    );
    let again = app.post("/v2/sessions/end", json!({"roomId": "r"})).await;
    assert_error(again, reqwest::StatusCode::CONFLICT, "no_ongoing_session").await;
    let missing = app
        .post("/v2/sessions/end", json!({"roomId": "nope"}))
        .await;
    assert_error(missing, reqwest::StatusCode::NOT_FOUND, "not_found").await;

    // A join dated before the end belonged to the ended session: stale, not a new session.
    let late: Value = app
        .signals(json!([join("3b", "r", "p3", "2026-01-01T10:30:00Z")]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (late["stale"].clone(), late["events"].clone()),
        (json!(1), json!(0)),
        "{late}"
    );

    // A new join opens a second session; the list is newest first.
    app.signals(
        json!([{"id":"4","type":"participant.joined","meetingId":"r",
        "participantId":"p1","participantName":"Name p1"}]),
    )
    .await;
    let page: Value = app
        .get("/v2/sessions?roomId=r&perPage=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"][0]["status"], "ongoing");
    assert_eq!(
        page["pageInfo"],
        json!({"currentPage": 1, "perPage": 1, "lastPage": 2, "total": 2})
    );
    let older: Value = app
        .get("/v2/sessions?roomId=r&perPage=1&page=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(older["data"][0]["status"], "ended");
    assert_eq!(older["data"].as_array().unwrap().len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn events_filter_and_paginate() {
    let app = TestApp::spawn().await;
    app.signals(json!([
        join("1", "e1", "a", "2026-01-01T10:00:00Z"),
        join("2", "e1", "b", "2026-01-01T10:00:01Z"),
        join("3", "e2", "c", "2026-01-01T10:00:02Z"),
    ]))
    .await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let after = cursor.map(|c| format!("&after={c}")).unwrap_or_default();
        let page: Value = app
            .get(&format!("/v1/events?limit=2{after}"))
            .await
            .json()
            .await
            .unwrap();
        for e in page["data"].as_array().unwrap() {
            seen.push(e["id"].as_str().unwrap().to_owned());
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    seen.dedup();
    assert_eq!(seen.len(), 5);
    let joined: Value = app
        .get("/v1/events?type=participant-joined&meetingId=e1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(joined["data"].as_array().unwrap().len(), 2);
    let session_id = joined["data"][0]["sessionId"].as_str().unwrap();
    let by_session: Value = app
        .get(&format!("/v1/events?sessionId={session_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_session["data"].as_array().unwrap().len(), 3);
    app.shutdown().await;
}

#[tokio::test]
async fn a_participant_in_two_sessions_keeps_each_timelog() {
    let app = TestApp::spawn().await;
    // One batch: the first session ends and a second one starts with the same participant.
    app.signals(json!([
        join("1", "two", "p", "2026-01-01T10:00:00Z"),
        leave("2", "two", "p", "left", "2026-01-01T10:05:00Z"),
        join("3", "two", "p", "2026-01-01T11:00:00Z"),
    ]))
    .await;
    let page: Value = app
        .get("/v2/sessions?roomId=two")
        .await
        .json()
        .await
        .unwrap();
    let sessions = page["data"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(
        sessions[1]["participants"],
        json!([{"participantId": "p", "name": "Name p", "timelog": [
            {"start": "2026-01-01T10:00:00.000+00:00", "end": "2026-01-01T10:05:00.000+00:00"}]}])
    );
    assert_eq!(
        sessions[0]["participants"],
        json!([{"participantId": "p", "name": "Name p", "timelog": [
            {"start": "2026-01-01T11:00:00.000+00:00", "end": null}]}])
    );
    app.shutdown().await;
}
