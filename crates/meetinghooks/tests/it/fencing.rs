//! Fencing by time: an attempt starts only while its lease outlasts the request's timeout.
//! A node frozen between taking a lease and sending gives the attempt up, and the message
//! goes out once, after the lease is over, so it never overlaps a node that took it over.

use std::sync::Arc;
use std::time::Duration;

use meetinghooks::delivery::ssrf::SsrfPolicy;
use meetinghooks::delivery::Dispatcher;
use meetinghooks::domain::endpoint::Endpoint;
use meetinghooks::domain::signal::parse_batch;
use meetinghooks::domain::timestamp::Timestamp;
use meetinghooks::store::Store;
use tokio::sync::watch;

use crate::helpers::*;
use crate::receiver::Receiver;
use crate::store_wrapper::CountingStore;

const LEASE: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_too_short_for_the_timeout_is_given_up_and_sent_after_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = delivery_config(dir.path());
    config.lease_duration = LEASE;
    config.request_timeout = Duration::from_secs(1);
    let store = CountingStore::new(meetinghooks::app::open_store(&config).await.unwrap());
    let project = store.create_project("fencing", [9; 32]).await.unwrap();
    let receiver = Receiver::answering(200).await;
    let endpoint = Endpoint::new(
        "ep_fencing".into(),
        project.id.clone(),
        receiver.url("/"),
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        Timestamp::now(),
    );
    store.create_endpoint(endpoint).await.unwrap();
    // Frozen for 1.5 s after the lease is granted: 0.5 s of a 2 s lease is left, less than
    // the 1 s timeout.
    store.pause_after_lease(Duration::from_millis(1_500));
    let policy = Arc::new(SsrfPolicy::new(&config.allowed_private_targets).unwrap());
    let dispatcher = Dispatcher::new(store.clone(), config.delivery(), policy).unwrap();
    let (stop, stopped) = watch::channel(false);
    let run = tokio::spawn(dispatcher.clone().run(stopped));

    let joined = [join("s1", "m", "p1", "2026-01-01T10:00:00Z")];
    let signals = parse_batch(&joined, Timestamp::now()).unwrap();
    store.ingest(&project.id, signals).await.unwrap();
    eventually("a lease held back", || {
        let held = store.paused.lock().unwrap().is_some();
        async move { held }
    })
    .await;
    let (paused, asked_at) = store.paused.lock().unwrap().clone().unwrap();
    let delivered = receiver
        .wait_for("the paused message delivered", |received| {
            received
                .iter()
                .any(|r| r.header("webhook-id") == paused.message_id)
        })
        .await;
    let attempts: Vec<_> = delivered
        .iter()
        .filter(|r| r.header("webhook-id") == paused.message_id)
        .collect();
    assert_eq!(attempts.len(), 1, "sent once");
    // Not before the lease taken for it was over: the frozen holder gave its attempt up.
    assert!(
        attempts[0].at >= asked_at + LEASE,
        "sent {:?} after the lease was asked for, inside its {LEASE:?}",
        attempts[0].at - asked_at
    );
    // The given-up attempt wrote nothing: the one that went out is the first.
    assert_eq!(attempts[0].header("webhook-attempt"), "1");
    let _ = stop.send(true);
    run.await.unwrap();
}
