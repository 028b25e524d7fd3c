//! Unit tests of settling a batch of outcomes.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::outbox::Failure;

const LEASE: Timestamp = Timestamp(1_000);

fn outcome(position: i64, endpoint: &str, room: &str, at: i64, next: NextStep) -> AttemptOutcome {
    let failed = next != NextStep::Succeeded;
    AttemptOutcome {
        message_id: format!("msg_{position}"),
        position,
        lease_until: LEASE,
        endpoint_id: endpoint.into(),
        room_id: room.into(),
        ordered: true,
        attempt: 1,
        attempted_at: Timestamp(at),
        duration_ms: 5,
        status_code: Some(if failed { 500 } else { 200 }),
        error_kind: None,
        failure: failed.then(|| Failure {
            kind: "http",
            reason: "http 500".into(),
        }),
        response_body: String::new(),
        next,
    }
}

fn owned(positions: &[i64]) -> BTreeSet<LeaseKey> {
    positions
        .iter()
        .map(|&position| LeaseKey {
            position,
            lease_until: LEASE,
        })
        .collect()
}

fn clocks(entries: &[(&str, Option<i64>, bool)]) -> BTreeMap<String, EndpointClock> {
    entries
        .iter()
        .map(|(id, since, disabled)| {
            let clock = EndpointClock {
                failing_since: since.map(Timestamp),
                disabled: *disabled,
            };
            (id.to_string(), clock)
        })
        .collect()
}

fn plan<'a>(
    outcomes: &'a [AttemptOutcome],
    owned: &'a BTreeSet<LeaseKey>,
    clocks: &'a BTreeMap<String, EndpointClock>,
) -> OutcomePlan<'a> {
    plan_outcomes(OutcomeInput {
        outcomes,
        owned,
        clocks,
        auto_disable_after_ms: 100,
    })
}

#[test]
fn a_stale_outcome_is_logged_and_moves_no_clock() {
    let outcomes = [
        outcome(1, "ep", "r", 10, NextStep::RetryAt(Timestamp(50))),
        outcome(2, "ep", "r", 11, NextStep::Succeeded),
    ];
    let (owned, clocks) = (owned(&[]), clocks(&[("ep", None, false)]));
    let plan = plan(&outcomes, &owned, &clocks);
    assert_eq!(plan.attempts.len(), 2);
    assert!(plan.settled.is_empty());
    assert!(plan.failing_started.is_empty());
    assert!(plan.succeeded.is_empty());
    assert!(plan.freed.is_empty());
    assert_eq!(plan.lost, ["msg_1", "msg_2"]);
}

#[test]
fn a_lease_settles_once() {
    let outcomes = [
        outcome(1, "ep", "r", 10, NextStep::Succeeded),
        outcome(1, "ep", "r", 12, NextStep::RetryAt(Timestamp(50))),
    ];
    let (owned, clocks) = (owned(&[1]), clocks(&[("ep", None, false)]));
    let plan = plan(&outcomes, &owned, &clocks);
    assert_eq!(plan.settled.len(), 1);
    assert_eq!(plan.settled[0].status, MessageStatus::Succeeded);
    assert_eq!(plan.lost, ["msg_1"]);
    assert!(plan.failing_started.is_empty());
}

#[test]
fn the_failing_clock_starts_at_the_first_owned_failure_only() {
    let outcomes = [
        outcome(1, "a", "r", 10, NextStep::RetryAt(Timestamp(50))),
        outcome(2, "a", "s", 20, NextStep::RetryAt(Timestamp(60))),
        outcome(3, "b", "r", 30, NextStep::RetryAt(Timestamp(70))),
    ];
    let (owned, clocks) = (
        owned(&[1, 2, 3]),
        clocks(&[("a", None, false), ("b", Some(5), false)]),
    );
    let plan = plan(&outcomes, &owned, &clocks);
    assert_eq!(
        plan.failing_started,
        [FailingStart {
            endpoint_id: "a",
            since: Timestamp(10)
        }]
    );
    assert!(plan
        .settled
        .iter()
        .all(|m| m.status == MessageStatus::Pending));
    assert!(plan.freed.is_empty(), "a retry keeps its queue");
}

#[test]
fn auto_disable_skips_the_rest_of_the_batch_and_leases_nothing() {
    // Failing since 0; at 100 the threshold is reached.
    let outcomes = [
        outcome(1, "ep", "r", 100, NextStep::RetryAt(Timestamp(500))),
        outcome(2, "ep", "s", 101, NextStep::RetryAt(Timestamp(500))),
        outcome(3, "ok", "r", 102, NextStep::Succeeded),
    ];
    let (owned, clocks) = (
        owned(&[1, 2, 3]),
        clocks(&[("ep", Some(0), false), ("ok", None, false)]),
    );
    let plan = plan(&outcomes, &owned, &clocks);
    assert_eq!(plan.disable.len(), 1);
    assert_eq!(plan.disable[0].endpoint_id, "ep");
    assert!(plan.disable[0]
        .reason
        .starts_with("no successful delivery since"));
    assert!(plan.settled[..2]
        .iter()
        .all(|m| m.status == MessageStatus::Skipped && m.due_at.0 < 500));
    assert_eq!(plan.freed.len(), 3);
    let grant = Some(Timestamp(9_000));
    assert_eq!(plan.promotion(grant, "ep"), Promotion::DueNow);
    assert_eq!(
        plan.promotion(grant, "ok"),
        Promotion::Lease(Timestamp(9_000))
    );
    assert_eq!(plan.promotion(None, "ok"), Promotion::DueNow);
}

#[test]
fn gone_fails_the_message_and_disables_once() {
    let outcomes = [
        outcome(1, "ep", "r", 10, NextStep::Gone("410 Gone".into())),
        outcome(2, "ep", "s", 11, NextStep::Gone("410 again".into())),
        outcome(3, "ep", "t", 12, NextStep::Succeeded),
    ];
    let (owned, clocks) = (owned(&[1, 2, 3]), clocks(&[("ep", None, false)]));
    let plan = plan(&outcomes, &owned, &clocks);
    assert_eq!(plan.settled[0].status, MessageStatus::Failed);
    assert_eq!(
        plan.disable,
        [Disable {
            endpoint_id: "ep",
            reason: "410 Gone".into(),
            at: Timestamp(10)
        }]
    );
    // A success in a batch that disables its endpoint leases nothing either.
    assert_eq!(plan.promotion(Some(Timestamp(9)), "ep"), Promotion::DueNow);
}

#[test]
fn an_endpoint_disabled_before_the_batch_is_not_disabled_again() {
    let outcomes = [outcome(1, "ep", "r", 10, NextStep::Gone("gone".into()))];
    let (owned, clocks) = (owned(&[1]), clocks(&[("ep", Some(1), true)]));
    let plan = plan(&outcomes, &owned, &clocks);
    assert!(plan.disable.is_empty());
    assert_eq!(plan.promotion(Some(Timestamp(9)), "ep"), Promotion::DueNow);
}

#[test]
fn successes_keep_the_latest_time_and_free_their_queue() {
    let outcomes = [
        outcome(1, "ep", "r", 30, NextStep::Succeeded),
        outcome(2, "ep", "r", 20, NextStep::Succeeded),
    ];
    let (owned, clocks) = (owned(&[1, 2]), clocks(&[("ep", None, false)]));
    let plan = plan(&outcomes, &owned, &clocks);
    assert!(plan.failing_started.is_empty(), "a success starts no clock");
    assert_eq!(
        plan.succeeded,
        [Success {
            endpoint_id: "ep",
            at: Timestamp(30)
        }]
    );
    let queue = QueueKey {
        endpoint_id: "ep",
        room_id: "r",
    };
    assert_eq!(plan.freed.get(&queue), Some(&Timestamp(30)));
}

#[test]
fn a_deleted_endpoint_moves_no_clock_and_gets_no_lease() {
    let outcomes = [outcome(1, "gone", "r", 10, NextStep::Exhausted)];
    let (owned, clocks) = (owned(&[1]), clocks(&[]));
    let plan = plan(&outcomes, &owned, &clocks);
    assert_eq!(plan.settled[0].status, MessageStatus::Exhausted);
    assert!(plan.failing_started.is_empty() && plan.disable.is_empty());
    assert_eq!(
        plan.promotion(Some(Timestamp(9)), "gone"),
        Promotion::DueNow
    );
}
