//! A session waiting for its egresses, on both stores: `lifecycleId` through
//! `POST /v1/signals`' parser, the closing deadline armed in the timer index and fired once,
//! and a `room_finished` end that leaves the session open until its egress ends.

use std::sync::Arc;

use meetinghooks::domain::signal::{parse_batch, Signal};
use meetinghooks::domain::timestamp::Timestamp;
use meetinghooks::engine::{SessionEnd, TRACKED_MEDIA_WAIT_MS};
use meetinghooks::store::Store;
use serde_json::{json, Value};

use crate::helpers::{join, leave};
use crate::store_conformance::{postgres, sqlite};

fn signals(values: Vec<Value>) -> Vec<Signal> {
    parse_batch(&values, Timestamp::now()).unwrap()
}

fn recording(id: &str, meeting: &str, phase: &str, at: &str) -> Value {
    json!({"id": id, "type": format!("recording.{phase}"), "meetingId": meeting, "at": at,
        "lifecycleId": "EG_1", "fileId": "EG_1", "fileUrl": "https://cdn.example/EG_1.mp4"})
}

async fn a_closing_session_ends_once_at_its_deadline_or_its_egress_end(store: Arc<dyn Store>) {
    let project_id = store.create_project("closing", [9; 32]).await.unwrap().id;
    let before = Timestamp::now();
    let report = store
        .ingest(
            &project_id,
            signals(vec![
                join("j1", "m", "alice", "2026-01-01T10:00:00Z"),
                recording("r1", "m", "started", "2026-01-01T10:00:01Z"),
                leave("l1", "m", "alice", "left", "2026-01-01T10:00:05Z"),
            ]),
        )
        .await
        .unwrap();
    // session-started, joined, recording-started, left: the session waits for EG_1.
    assert_eq!(report.events, 4);
    let next = store
        .next_timer()
        .await
        .unwrap()
        .expect("a closing deadline");
    assert!(
        next >= before.plus_millis(TRACKED_MEDIA_WAIT_MS),
        "{next:?}"
    );
    assert_eq!(
        store.fire_due_timers(next.plus_millis(-1)).await.unwrap(),
        0
    );
    let (a, b) = tokio::join!(
        store.fire_due_timers(next.plus_millis(1)),
        store.fire_due_timers(next.plus_millis(1))
    );
    assert_eq!(
        a.unwrap() + b.unwrap(),
        2,
        "recording-stopped and session-ended, exactly once"
    );
    assert_eq!(store.next_timer().await.unwrap(), None);

    // room_finished while EG_1 runs: everyone leaves, the session stays open for its file.
    store
        .ingest(
            &project_id,
            signals(vec![
                join("j2", "m2", "bob", "2026-01-01T11:00:00Z"),
                recording("r2", "m2", "started", "2026-01-01T11:00:01Z"),
            ]),
        )
        .await
        .unwrap();
    let at = Timestamp::parse_rfc3339("2026-01-01T11:00:30Z").unwrap();
    let finished = SessionEnd::room_finished(at, at);
    let record = store
        .end_session(&project_id, "m2", finished)
        .await
        .unwrap();
    assert_eq!(record.session.end, None, "{record:?}");
    let report = store
        .ingest(
            &project_id,
            signals(vec![recording(
                "r3",
                "m2",
                "stopped",
                "2026-01-01T11:00:50Z",
            )]),
        )
        .await
        .unwrap();
    assert_eq!(report.events, 2, "recording-stopped, then session-ended");
    let sessions = store.sessions(&project_id, "m2", None, 1).await.unwrap();
    assert_eq!(sessions.items[0].session.end, Some(finished.at));
}

#[tokio::test]
async fn on_sqlite() {
    let opened = sqlite().await.unwrap();
    a_closing_session_ends_once_at_its_deadline_or_its_egress_end(opened.store.clone()).await;
}

#[tokio::test]
#[cfg_attr(not(has_postgres), ignore = "needs TEST_POSTGRES_URL")]
async fn on_postgres() {
    if let Some(opened) = postgres().await {
        a_closing_session_ends_once_at_its_deadline_or_its_egress_end(opened.store.clone()).await;
    }
}
