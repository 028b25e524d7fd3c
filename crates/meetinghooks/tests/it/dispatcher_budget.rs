//! A leasing round whose global budget went to lanes that turn out empty runs again at once:
//! the lanes it left out may have messages due, and nothing else would wake the loop.

use std::sync::Arc;
use std::time::Duration;

use meetinghooks::delivery::ssrf::SsrfPolicy;
use meetinghooks::delivery::Dispatcher;
use meetinghooks::domain::endpoint::{Endpoint, Ordering};
use meetinghooks::domain::signal::parse_batch;
use meetinghooks::domain::subscription::Subscription;
use meetinghooks::domain::timestamp::Timestamp;
use tokio::sync::watch;

use crate::helpers::*;
use crate::receiver::Receiver;

fn endpoint(id: &str, project_id: &str, url: String, events: &str) -> Endpoint {
    Endpoint {
        events: Subscription::parse(vec![events.into()]).unwrap(),
        ordering: Ordering::None,
        ..Endpoint::new(
            id.into(),
            project_id.into(),
            url,
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            Timestamp::now(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_left_out_of_a_round_are_asked_without_waiting_for_the_idle_poll() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = delivery_config(dir.path());
    // One lane's worth of budget per round.
    config.global_concurrency = 4;
    config.endpoint_concurrency = 4;
    let store = meetinghooks::app::open_store(&config).await.unwrap();
    let project = store.create_project("budget", [9; 32]).await.unwrap();
    let receiver = Receiver::answering(204).await;
    // Thirty endpoints with nothing to send sort before the one that gets the message, so
    // every round until the last asks an empty lane first and spends the whole budget on it.
    for i in 0..30 {
        let quiet = endpoint(
            &format!("ep_a{i:02}"),
            &project.id,
            receiver.url("/quiet"),
            "recording-started",
        );
        store.create_endpoint(quiet).await.unwrap();
    }
    let busy = endpoint(
        "ep_z",
        &project.id,
        receiver.url("/busy"),
        "participant-joined",
    );
    store.create_endpoint(busy).await.unwrap();
    let policy = Arc::new(SsrfPolicy::new(&config.allowed_private_targets).unwrap());
    let dispatcher = Dispatcher::new(store.clone(), config.delivery(), policy).unwrap();
    let (stop, stopped) = watch::channel(false);
    let run = tokio::spawn(dispatcher.clone().run(stopped));

    let joins = [join("s1", "m", "p1", "2026-01-01T10:00:00Z")];
    let signals = parse_batch(&joins, Timestamp::now()).unwrap();
    store.ingest(&project.id, signals).await.unwrap();
    // Sleeping a second per empty lane would take about half a minute.
    eventually_within(
        Duration::from_secs(5),
        "the busy endpoint's webhook",
        || {
            let got = receiver.received().len();
            async move { got == 1 }
        },
    )
    .await;
    stop.send(true).unwrap();
    run.await.unwrap();
    assert!(receiver
        .received()
        .iter()
        .all(|r| r.json()["webhookType"] == "participant-joined"));
}
