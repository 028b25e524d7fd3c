//! A promoted lease whose endpoint was deleted meanwhile asks the dispatcher for one reload of
//! the endpoints, not one per round forever.

use std::sync::Arc;
use std::time::Duration;

use meetinghooks::delivery::ssrf::SsrfPolicy;
use meetinghooks::delivery::Dispatcher;
use meetinghooks::domain::endpoint::Endpoint;
use meetinghooks::domain::signal::parse_batch;
use meetinghooks::domain::subscription::Subscription;
use meetinghooks::domain::timestamp::Timestamp;
use meetinghooks::store::Store;
use serde_json::Value;
use tokio::sync::watch;

use crate::helpers::*;
use crate::receiver::Receiver;
use crate::store_wrapper::CountingStore;

fn ordered_endpoint(project_id: &str, url: String) -> Endpoint {
    Endpoint {
        events: Subscription::parse(vec!["participant-joined".into()]).unwrap(),
        ..Endpoint::new(
            "ep_orphan".into(),
            project_id.into(),
            url,
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            Timestamp::now(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphaned_promoted_lease_asks_for_one_reload() {
    let dir = tempfile::tempdir().unwrap();
    let config = delivery_config(dir.path());
    let store = CountingStore::new(meetinghooks::app::open_store(&config).await.unwrap());
    let project = store.create_project("orphans", [7; 32]).await.unwrap();
    let receiver = Receiver::answering(200).await;
    let endpoint = store
        .create_endpoint(ordered_endpoint(&project.id, receiver.url("/")))
        .await
        .unwrap();
    store.delete_on_promotion(&project.id, &endpoint.id);
    let policy = Arc::new(SsrfPolicy::new(&config.allowed_private_targets).unwrap());
    let dispatcher = Dispatcher::new(store.clone(), config.delivery(), policy).unwrap();
    let (stop, stopped) = watch::channel(false);
    let run = tokio::spawn(dispatcher.clone().run(stopped));

    let joins: Vec<Value> = (0..3)
        .map(|i| {
            join(
                &format!("s{i}"),
                "m",
                &format!("p{i}"),
                "2026-01-01T10:00:00Z",
            )
        })
        .collect();
    let signals = parse_batch(&joins, Timestamp::now()).unwrap();
    store.ingest(&project.id, signals).await.unwrap();
    eventually("a promoted lease for the deleted endpoint", || {
        let orphaned = store.orphaned.lock().unwrap().is_some();
        async move { orphaned }
    })
    .await;
    let before = store.reloads();
    // Watch a few of the dispatcher's idle rounds (one a second): not one reload each.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let reloads = store.reloads() - before;
    assert!(reloads <= 1, "{reloads} reloads for one orphaned lease");
    // The promoted message went with its endpoint: only the first one was ever sent.
    assert_eq!(receiver.received().len(), 1);
    stop.send(true).unwrap();
    run.await.unwrap();
}
