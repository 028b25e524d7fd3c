//! VideoSDK REST compatibility: the reference's documented request bodies, sent the way its
//! clients send them (`Authorization: <key>`, no `Bearer`), and every documented response
//! field checked for presence and type.

use std::str::FromStr;

use meetinghooks_webhooks::WebhookType;
use serde_json::{json, Value};

use crate::helpers::{join, leave, TestApp, KEY};

/// The JSON types the reference documents, checked at a `/`-separated path.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Str,
    Int,
    Bool,
    Null,
    Array,
    Object,
}

fn check(value: &Value, fields: &[(&str, Kind)]) {
    for (path, kind) in fields {
        let found = path
            .split('/')
            .try_fold(value, |v, key| match key.parse::<usize>() {
                Ok(i) => v.get(i),
                Err(_) => v.get(key),
            })
            .unwrap_or_else(|| panic!("{path} missing in {value:#}"));
        let ok = match kind {
            Kind::Str => found.is_string(),
            Kind::Int => found.is_u64(),
            Kind::Bool => found.is_boolean(),
            Kind::Null => found.is_null(),
            Kind::Array => found.is_array(),
            Kind::Object => found.is_object(),
        };
        assert!(ok, "{path} should be {kind:?}, is {found} in {value:#}");
    }
}

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, app.url(path))
        .header("authorization", KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

const ROOM_FIELDS: &[(&str, Kind)] = &[
    ("roomId", Kind::Str),
    ("disabled", Kind::Bool),
    ("createdAt", Kind::Str),
    ("updatedAt", Kind::Str),
    ("id", Kind::Str),
    ("links", Kind::Object),
    ("links/get_room", Kind::Str),
    ("links/get_session", Kind::Str),
];

const SESSION_FIELDS: &[(&str, Kind)] = &[
    ("id", Kind::Str),
    ("roomId", Kind::Str),
    ("start", Kind::Str),
    ("participants", Kind::Array),
    ("participants/0/participantId", Kind::Str),
    ("participants/0/name", Kind::Str),
    ("participants/0/timelog", Kind::Array),
    ("participants/0/timelog/0/start", Kind::Str),
    ("status", Kind::Str),
    ("links/get_room", Kind::Str),
    ("links/get_session", Kind::Str),
];

const PAGE_INFO: &[(&str, Kind)] = &[
    ("pageInfo/currentPage", Kind::Int),
    ("pageInfo/perPage", Kind::Int),
    ("pageInfo/lastPage", Kind::Int),
    ("pageInfo/total", Kind::Int),
    ("data", Kind::Array),
];

#[tokio::test]
async fn the_references_room_and_session_bodies_get_its_documented_answers() {
    let app = TestApp::spawn().await;
    // The docs' subscribable events, those the catalog has (hls-playable comes with the
    // extended catalog).
    let events: Vec<&str> = [
        "participant-joined",
        "participant-left",
        "session-started",
        "session-ended",
        "recording-started",
        "recording-stopped",
        "livestream-started",
        "livestream-stopped",
        "hls-started",
        "hls-playable",
        "hls-stopped",
    ]
    .into_iter()
    .filter(|e| WebhookType::from_str(e).is_ok())
    .collect();
    let create = json!({
        "customRoomId": "final-testing",
        "webhook": {"endPoint": "https://hooks.example.com/videosdk", "events": events},
        "autoCloseConfig": {"type": "session-end-and-deactivate", "duration": 60},
        "geoFence": "us002",
    });
    let (status, room) = call(
        &app,
        reqwest::Method::POST,
        "/v2/rooms",
        Some(create.clone()),
    )
    .await;
    assert_eq!(status, 201, "{room}");
    check(&room, ROOM_FIELDS);
    check(
        &room,
        &[
            ("customRoomId", Kind::Str),
            ("webhook/endPoint", Kind::Str),
            ("webhook/events", Kind::Array),
            ("autoCloseConfig/type", Kind::Str),
            ("autoCloseConfig/duration", Kind::Int),
        ],
    );
    assert_eq!(room["roomId"], "final-testing");
    assert_eq!(room["customRoomId"], "final-testing");
    assert_eq!(room["disabled"], false);
    assert_eq!(
        room["autoCloseConfig"],
        json!({"type": "session-end-and-deactivate", "duration": 60})
    );
    assert_eq!(room["links"]["get_room"], "/v2/rooms/final-testing");
    // The links are paths this server answers.
    for link in ["get_room", "get_session"] {
        let (status, _) = call(
            &app,
            reqwest::Method::GET,
            room["links"][link].as_str().unwrap(),
            None,
        )
        .await;
        assert_eq!(status, 200, "{link}");
    }
    // Idempotent on customRoomId: the same room again.
    let (status, again) = call(&app, reqwest::Method::POST, "/v2/rooms", Some(create)).await;
    assert_eq!(
        (status, &again["id"], &again["createdAt"]),
        (200, &room["id"], &room["createdAt"])
    );

    // Without options: a generated id, no customRoomId, no webhook, default close config absent.
    let (status, plain) = call(&app, reqwest::Method::POST, "/v2/rooms", Some(json!({}))).await;
    assert_eq!(status, 201);
    check(&plain, ROOM_FIELDS);
    check(
        &plain,
        &[
            ("customRoomId", Kind::Null),
            ("webhook", Kind::Null),
            ("autoCloseConfig", Kind::Null),
        ],
    );
    let generated = plain["roomId"].as_str().unwrap().to_owned();
    assert!(
        generated.len() == 14 && generated.matches('-').count() == 2,
        "{generated}"
    );
    let (status, read) = call(
        &app,
        reqwest::Method::GET,
        &format!("/v2/rooms/{generated}"),
        None,
    )
    .await;
    assert_eq!((status, read), (200, plain));

    let (status, rooms) = call(&app, reqwest::Method::GET, "/v2/rooms", None).await;
    assert_eq!(status, 200);
    check(&rooms, PAGE_INFO);
    assert_eq!(
        rooms["pageInfo"],
        json!({"currentPage": 1, "perPage": 20, "lastPage": 1, "total": 2})
    );
    check(&rooms["data"][0], ROOM_FIELDS);

    // The reference's session: two participants, Jacques and Rahul. Undated, so now: the
    // room's 60-minute autoCloseConfig leaves the session running.
    let signals = json!([
        {"id": "s1", "type": "participant.joined", "meetingId": "final-testing", "participantId": "but3ihic", "participantName": "Jacques"},
        {"id": "s2", "type": "participant.joined", "meetingId": "final-testing", "participantId": "mcg1jq0s", "participantName": "Rahul"},
    ]);
    assert_eq!(app.signals(signals).await.status(), 202);
    let (status, page) = call(
        &app,
        reqwest::Method::GET,
        "/v2/sessions?roomId=final-testing&page=1&perPage=2",
        None,
    )
    .await;
    assert_eq!(status, 200);
    check(&page, PAGE_INFO);
    assert_eq!(
        page["pageInfo"],
        json!({"currentPage": 1, "perPage": 2, "lastPage": 1, "total": 1})
    );
    let session = &page["data"][0];
    check(session, SESSION_FIELDS);
    check(
        session,
        &[
            ("end", Kind::Null),
            ("participants/0/timelog/0/end", Kind::Null),
        ],
    );
    assert_eq!(session["status"], "ongoing");
    assert_eq!(session["participants"][1]["name"], "Rahul");
    let session_id = session["id"].as_str().unwrap();
    assert_eq!(
        session["links"]["get_session"],
        format!("/v2/sessions/{session_id}")
    );
    for link in ["get_room", "get_session"] {
        let link = session["links"][link].as_str().unwrap();
        let (status, _) = call(&app, reqwest::Method::GET, link, None).await;
        assert_eq!(status, 200, "{link}");
    }

    app.signals(json!([
        {"id": "s3", "type": "participant.left", "meetingId": "final-testing", "participantId": "but3ihic", "reason": "left"},
        {"id": "s4", "type": "participant.left", "meetingId": "final-testing", "participantId": "mcg1jq0s", "reason": "left"},
    ]))
    .await;
    // The customRoomId filter finds it.
    let (_, page) = call(
        &app,
        reqwest::Method::GET,
        "/v2/sessions?customRoomId=final-testing",
        None,
    )
    .await;
    let session = &page["data"][0];
    check(session, SESSION_FIELDS);
    check(
        session,
        &[
            ("end", Kind::Str),
            ("participants/1/timelog/0/end", Kind::Str),
        ],
    );
    assert_eq!(session["status"], "ended");
    // Without a room: every room's sessions.
    app.signals(json!([join("s5", &generated, "p", "2026-01-01T09:00:00Z")]))
        .await;
    let (_, all) = call(&app, reqwest::Method::GET, "/v2/sessions", None).await;
    assert_eq!(all["pageInfo"]["total"], 2);
    let (_, by_id) = call(
        &app,
        reqwest::Method::GET,
        &format!("/v2/sessions?roomId={generated}"),
        None,
    )
    .await;
    assert_eq!(by_id["pageInfo"]["total"], 1);
    let (_, none) = call(
        &app,
        reqwest::Method::GET,
        &format!("/v2/sessions?customRoomId={generated}"),
        None,
    )
    .await;
    assert_eq!(none["pageInfo"]["total"], 0);
    app.shutdown().await;
}

#[tokio::test]
async fn a_deactivated_room_refuses_joins_but_lets_its_session_end() {
    let app = TestApp::spawn().await;
    app.signals(json!([join("d1", "to-close", "p", "2026-01-01T10:00:00Z")]))
        .await;
    let (status, room) = call(
        &app,
        reqwest::Method::POST,
        "/v2/rooms/deactivate",
        Some(json!({"roomId": "to-close"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(room["disabled"], true);
    let refused = app
        .signals(json!([join("d2", "to-close", "q", "2026-01-01T10:00:01Z")]))
        .await;
    assert_eq!(refused.status(), 409);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["code"], "room_deactivated", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("signals[0]: room to-close"),
        "{error}"
    );
    // A join sent again (its id already applied) stays a duplicate, not a refusal.
    let again = app
        .signals(json!([join("d1", "to-close", "p", "2026-01-01T10:00:00Z")]))
        .await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.json::<Value>().await.unwrap()["duplicates"], 1);
    // The ongoing session still ends.
    let left = app
        .signals(json!([leave(
            "d3",
            "to-close",
            "p",
            "left",
            "2026-01-01T10:00:02Z"
        )]))
        .await;
    assert_eq!(left.status(), 202);
    let types: Vec<Value> = app
        .events("to-close")
        .await
        .iter()
        .map(|e| e["webhookType"].clone())
        .collect();
    assert_eq!(
        types,
        [
            "session-started",
            "participant-joined",
            "participant-left",
            "session-ended"
        ]
    );
    let (status, _) = call(
        &app,
        reqwest::Method::POST,
        "/v2/rooms/deactivate",
        Some(json!({"roomId": "nope"})),
    )
    .await;
    assert_eq!(status, 404);
    app.shutdown().await;
}

/// `autoCloseConfig.duration`: the timer driver ends a session that has run that many minutes
/// (dated signals make one that started 2 minutes ago), and `session-end-and-deactivate`
/// deactivates its room; a session younger than its duration runs on.
#[tokio::test]
async fn auto_close_ends_sessions_that_ran_their_duration() {
    let app = TestApp::spawn().await;
    let minutes_ago = |m: i64| {
        chrono::Utc::now()
            .checked_sub_signed(chrono::Duration::minutes(m))
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    for (room, kind) in [
        ("closes", "session-end-and-deactivate"),
        ("stays", "session-ends"),
    ] {
        let body = json!({"customRoomId": room, "autoCloseConfig": {"type": kind, "duration": 1}});
        assert_eq!(app.post("/v2/rooms", body).await.status(), 201);
    }
    let body = json!({"customRoomId": "ends-only", "autoCloseConfig": {"type": "session-ends", "duration": 1}});
    assert_eq!(app.post("/v2/rooms", body).await.status(), 201);
    app.signals(json!([
        join("a1", "closes", "p", &minutes_ago(2)),
        join("a2", "ends-only", "p", &minutes_ago(2)),
        join("a3", "stays", "p", &minutes_ago(0)),
    ]))
    .await;
    crate::helpers::eventually("both due sessions are closed", || async {
        let closed = app.events("closes").await;
        let ended = app.events("ends-only").await;
        closed
            .last()
            .is_some_and(|e| e["webhookType"] == "session-ended")
            && ended
                .last()
                .is_some_and(|e| e["webhookType"] == "session-ended")
    })
    .await;
    let types: Vec<Value> = app
        .events("closes")
        .await
        .iter()
        .map(|e| e["webhookType"].clone())
        .collect();
    assert_eq!(
        types,
        [
            "session-started",
            "participant-joined",
            "participant-left",
            "session-ended"
        ]
    );
    let (_, closes) = call(&app, reqwest::Method::GET, "/v2/rooms/closes", None).await;
    let (_, ends_only) = call(&app, reqwest::Method::GET, "/v2/rooms/ends-only", None).await;
    assert_eq!(
        (closes["disabled"].clone(), ends_only["disabled"].clone()),
        (json!(true), json!(false))
    );
    // One younger than its duration runs on.
    let (_, stays) = call(
        &app,
        reqwest::Method::GET,
        "/v2/sessions?roomId=stays",
        None,
    )
    .await;
    assert_eq!(stays["data"][0]["status"], "ongoing");
    app.shutdown().await;
}
