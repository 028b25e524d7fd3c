//! The store conformance suite: the same cases against the `Store` trait on SQLite and on
//! PostgreSQL, for what the API tests cannot see directly (leases, expiry, promotion,
//! retention, timers firing once).

use std::sync::Arc;

use meetinghooks::domain::endpoint::{Endpoint, Ordering};
use meetinghooks::domain::signal::{parse_batch, Signal};
use meetinghooks::domain::timestamp::Timestamp;
use meetinghooks::engine::EngineConfig;
use meetinghooks::store::postgres::{LeaseClock, PostgresStore};
use meetinghooks::store::sqlite::SqliteStore;
use meetinghooks::store::{
    AttemptOutcome, LeaseRequest, Leased, MessageQuery, MessageStatus, NextStep, Store, StoreError,
};
use serde_json::{json, Value};

use crate::helpers::{fresh_postgres_database, join, leave, test_sealer};

const ENGINE: EngineConfig = EngineConfig {
    reconnect_grace_ms: 2_000,
};

/// A store with what must outlive it (the SQLite file's folder).
pub(crate) struct Opened {
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

pub(crate) async fn sqlite() -> Option<Opened> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = SqliteStore::open(&url, ENGINE, test_sealer()).unwrap();
    Some(Opened {
        store: Arc::new(store),
        _dir: Some(dir),
    })
}

pub(crate) async fn postgres() -> Option<Opened> {
    let url = fresh_postgres_database().await?;
    // These cases move time through the `now` they pass.
    let store = PostgresStore::open(&url, 8, ENGINE, test_sealer())
        .await
        .unwrap()
        .with_lease_clock(LeaseClock::Caller);
    Some(Opened {
        store: Arc::new(store),
        _dir: None,
    })
}

/// Runs each case once per store; without a test PostgreSQL the second run is ignored.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test]
            async fn $case() {
                let opened = super::sqlite().await.unwrap();
                super::$case(opened.store.clone()).await;
            })*
        }
        mod on_postgres {
            $(#[tokio::test]
            #[cfg_attr(not(has_postgres), ignore = "needs TEST_POSTGRES_URL")]
            async fn $case() {
                if let Some(opened) = super::postgres().await {
                    super::$case(opened.store.clone()).await;
                }
            })*
        }
    };
}
pub(crate) use conformance;

conformance!(
    a_batch_is_idempotent_and_a_conflict_keeps_nothing,
    a_lease_is_exclusive_until_it_expires,
    an_outcome_after_a_takeover_changes_nothing,
    an_ordered_queue_moves_one_message_at_a_time,
    retention_deletes_only_old_finished_messages,
    a_reconnect_grace_fires_once,
);

fn signals(values: Vec<Value>) -> Vec<Signal> {
    parse_batch(&values, Timestamp::now()).unwrap()
}

async fn project(store: &dyn Store) -> String {
    store
        .create_project("conformance", [7; 32])
        .await
        .unwrap()
        .id
}

async fn endpoint(store: &dyn Store, project_id: &str, ordering: Ordering) -> String {
    let now = Timestamp::now();
    let endpoint = Endpoint {
        ordering,
        ..Endpoint::new(
            format!("ep_{}", ordering.as_str()),
            project_id.to_owned(),
            "http://127.0.0.1:9/".into(),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            now,
        )
    };
    store.create_endpoint(endpoint).await.unwrap().id
}

/// `count` participants join one meeting: a session-started plus `count` joins.
async fn meeting_with_joins(store: &dyn Store, project_id: &str, meeting: &str, count: usize) {
    let batch = (0..count)
        .map(|i| {
            join(
                &format!("{meeting}-{i}"),
                meeting,
                &format!("p{i}"),
                "2026-01-01T10:00:00Z",
            )
        })
        .collect();
    store.ingest(project_id, signals(batch)).await.unwrap();
}

fn lease_all(endpoint_id: &str) -> Vec<LeaseRequest> {
    vec![LeaseRequest {
        endpoint_id: endpoint_id.to_owned(),
        max: 100,
    }]
}

fn outcome(leased: &Leased, next: NextStep, at: Timestamp) -> AttemptOutcome {
    AttemptOutcome {
        message_id: leased.message_id.clone(),
        position: leased.position,
        lease_until: leased.lease_until,
        endpoint_id: leased.endpoint_id.clone(),
        room_id: leased.room_id.clone(),
        ordered: leased.ordered,
        attempt: leased.attempts + 1,
        attempted_at: at,
        duration_ms: 3,
        status_code: Some(200),
        error_kind: None,
        failure: None,
        response_body: String::new(),
        next,
    }
}

async fn statuses(store: &dyn Store, project_id: &str) -> Vec<MessageStatus> {
    let query = MessageQuery {
        limit: 100,
        ..MessageQuery::default()
    };
    let page = store.messages(project_id, query).await.unwrap();
    page.items.iter().map(|m| m.status).collect()
}

async fn a_batch_is_idempotent_and_a_conflict_keeps_nothing(store: Arc<dyn Store>) {
    let project_id = project(store.as_ref()).await;
    let batch = vec![
        join("s1", "m", "alice", "2026-01-01T10:00:00Z"),
        join("s2", "m", "bob", "2026-01-01T10:00:01Z"),
    ];
    let first = store
        .ingest(&project_id, signals(batch.clone()))
        .await
        .unwrap();
    assert_eq!((first.accepted, first.duplicates, first.events), (2, 0, 3));
    let again = store.ingest(&project_id, signals(batch)).await.unwrap();
    assert_eq!((again.accepted, again.duplicates, again.events), (0, 2, 0));

    // The second signal conflicts (media in a meeting without a session): nothing is kept.
    let conflicting = vec![
        join("s3", "other", "carol", "2026-01-01T10:00:00Z"),
        json!({"id": "s4", "type": "recording.started", "meetingId": "empty",
               "at": "2026-01-01T10:00:00Z"}),
    ];
    let refused = store.ingest(&project_id, signals(conflicting)).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict { index: 1, .. })),
        "{refused:?}"
    );
    let retried = store
        .ingest(
            &project_id,
            signals(vec![join("s3", "other", "carol", "2026-01-01T10:00:00Z")]),
        )
        .await
        .unwrap();
    assert_eq!(
        retried.accepted, 1,
        "the refused batch must not have kept s3"
    );
}

async fn a_lease_is_exclusive_until_it_expires(store: Arc<dyn Store>) {
    let project_id = project(store.as_ref()).await;
    let endpoint_id = endpoint(store.as_ref(), &project_id, Ordering::None).await;
    meeting_with_joins(store.as_ref(), &project_id, "m", 4).await;
    let now = Timestamp::now();
    let until = now.plus_millis(10_000);

    let first = store
        .lease(lease_all(&endpoint_id), now, until)
        .await
        .unwrap();
    assert_eq!(first.leased.len(), 5, "session-started and four joins");
    let second = store
        .lease(lease_all(&endpoint_id), now, until)
        .await
        .unwrap();
    assert!(
        second.leased.is_empty(),
        "a leased message is not leased twice"
    );
    assert!(
        second.next_due.iter().all(|(_, due)| *due >= Some(until)),
        "next due is the lease's expiry: {:?}",
        second.next_due
    );

    // The holder died: after expiry another taker gets every message again.
    let later = until.plus_millis(1);
    let taken_over = store
        .lease(lease_all(&endpoint_id), later, later.plus_millis(10_000))
        .await
        .unwrap();
    let mut ids: Vec<_> = taken_over.leased.iter().map(|l| &l.message_id).collect();
    let mut before: Vec<_> = first.leased.iter().map(|l| &l.message_id).collect();
    ids.sort();
    before.sort();
    assert_eq!(ids, before);
}

async fn an_outcome_after_a_takeover_changes_nothing(store: Arc<dyn Store>) {
    let project_id = project(store.as_ref()).await;
    let endpoint_id = endpoint(store.as_ref(), &project_id, Ordering::Meeting).await;
    meeting_with_joins(store.as_ref(), &project_id, "m", 1).await;
    let now = Timestamp::now();
    let first_until = now.plus_millis(1_000);
    let slow = store
        .lease(lease_all(&endpoint_id), now, first_until)
        .await
        .unwrap()
        .leased;
    // The first holder stalls past its lease; another taker leases the same message.
    let later = first_until.plus_millis(1);
    let taken_over = store
        .lease(lease_all(&endpoint_id), later, later.plus_millis(10_000))
        .await
        .unwrap()
        .leased;
    assert_eq!(taken_over[0].message_id, slow[0].message_id);
    // The stale holder's success must neither settle the message nor let the next one go.
    let promoted = store
        .record_outcomes(
            vec![outcome(&slow[0], NextStep::Succeeded, later)],
            i64::MAX,
            Some(later.plus_millis(10_000)),
        )
        .await
        .unwrap()
        .promoted;
    assert!(promoted.is_empty(), "{promoted:?}");
    use MessageStatus::*;
    assert_eq!(
        statuses(store.as_ref(), &project_id).await,
        [Delivering, Waiting]
    );
    let promoted = store
        .record_outcomes(
            vec![outcome(&taken_over[0], NextStep::Succeeded, later)],
            i64::MAX,
            Some(later.plus_millis(10_000)),
        )
        .await
        .unwrap()
        .promoted;
    assert_eq!(promoted.len(), 1, "the current holder's outcome counts");
    assert_eq!(
        statuses(store.as_ref(), &project_id).await,
        [Succeeded, Delivering]
    );
    let attempts = store
        .attempts(&project_id, &slow[0].message_id, None, 10)
        .await
        .unwrap();
    assert_eq!(attempts.items.len(), 2, "both attempts are logged");
}

async fn an_ordered_queue_moves_one_message_at_a_time(store: Arc<dyn Store>) {
    let project_id = project(store.as_ref()).await;
    let endpoint_id = endpoint(store.as_ref(), &project_id, Ordering::Meeting).await;
    meeting_with_joins(store.as_ref(), &project_id, "m", 2).await;
    use MessageStatus::*;
    assert_eq!(
        statuses(store.as_ref(), &project_id).await,
        [Pending, Waiting, Waiting]
    );
    let now = Timestamp::now();
    let until = now.plus_millis(10_000);
    let mut leased = store
        .lease(lease_all(&endpoint_id), now, until)
        .await
        .unwrap()
        .leased;
    let mut sequences = Vec::new();
    while let Some(current) = leased.pop() {
        assert!(leased.is_empty(), "one message of the meeting at a time");
        sequences.push(current.sequence);
        // Success hands the next message straight back, leased.
        leased = store
            .record_outcomes(
                vec![outcome(&current, NextStep::Succeeded, now)],
                i64::MAX,
                Some(until),
            )
            .await
            .unwrap()
            .promoted;
    }
    assert_eq!(sequences, [1, 2, 3]);
    assert_eq!(
        statuses(store.as_ref(), &project_id).await,
        [Succeeded, Succeeded, Succeeded]
    );
}

async fn retention_deletes_only_old_finished_messages(store: Arc<dyn Store>) {
    let project_id = project(store.as_ref()).await;
    let endpoint_id = endpoint(store.as_ref(), &project_id, Ordering::None).await;
    meeting_with_joins(store.as_ref(), &project_id, "m", 2).await;
    let now = Timestamp::now();
    let leased = store
        .lease(lease_all(&endpoint_id), now, now.plus_millis(10_000))
        .await
        .unwrap()
        .leased;
    // Two delivered, one still failing and due for a retry.
    let mut outcomes: Vec<_> = leased[..2]
        .iter()
        .map(|l| outcome(l, NextStep::Succeeded, now))
        .collect();
    outcomes.push(outcome(
        &leased[2],
        NextStep::RetryAt(now.plus_millis(60_000)),
        now,
    ));
    store
        .record_outcomes(outcomes, i64::MAX, None)
        .await
        .unwrap();

    // Nothing is old yet.
    assert_eq!(
        store
            .delete_finished(now.plus_millis(-1_000), 1)
            .await
            .unwrap(),
        0
    );
    // Everything is old now: only the two finished ones go, one per batch.
    let cutoff = now.plus_millis(1_000);
    assert_eq!(store.delete_finished(cutoff, 1).await.unwrap(), 1);
    assert_eq!(store.delete_finished(cutoff, 10).await.unwrap(), 1);
    assert_eq!(store.delete_finished(cutoff, 10).await.unwrap(), 0);
    assert_eq!(
        statuses(store.as_ref(), &project_id).await,
        [MessageStatus::Pending]
    );
    let gone = store
        .attempts(&project_id, &leased[0].message_id, None, 10)
        .await;
    assert!(matches!(gone, Err(StoreError::NotFound(_))), "{gone:?}");
    let kept = store
        .attempts(&project_id, &leased[2].message_id, None, 10)
        .await
        .unwrap();
    assert_eq!(kept.items.len(), 1, "the pending message keeps its attempt");
}

async fn a_reconnect_grace_fires_once(store: Arc<dyn Store>) {
    let project_id = project(store.as_ref()).await;
    store
        .ingest(
            &project_id,
            signals(vec![
                join("j1", "m", "alice", "2026-01-01T10:00:00Z"),
                join("j2", "m", "bob", "2026-01-01T10:00:00Z"),
                leave("l1", "m", "alice", "disconnected", "2026-01-01T10:00:05Z"),
            ]),
        )
        .await
        .unwrap();
    let next = store.next_timer().await.unwrap().expect("a grace is armed");
    assert_eq!(
        store.fire_due_timers(next.plus_millis(-1)).await.unwrap(),
        0
    );
    let (a, b) = tokio::join!(
        store.fire_due_timers(next.plus_millis(1)),
        store.fire_due_timers(next.plus_millis(1))
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1, "participant-left, exactly once");
    assert_eq!(store.next_timer().await.unwrap(), None);
}
