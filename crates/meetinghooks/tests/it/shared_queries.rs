//! The store code written once over the shared query executor (`store::query`), on SQLite
//! and on PostgreSQL: multi-statement writes that roll back as one, conditional writes,
//! parameters bound at the width each column has.

use std::sync::Arc;

use meetinghooks::domain::timestamp::Timestamp;
use meetinghooks::sources::{Source, SourceKey, SourceKind};
use meetinghooks::store::{Store, StoreError};

use crate::store_conformance::{conformance, postgres, sqlite};

conformance!(
    a_taken_source_key_keeps_nothing_of_its_source,
    a_source_keeps_its_keys_in_order,
    a_taken_project_name_keeps_nothing,
    a_key_use_keeps_the_latest_time_and_the_first_prefix,
    a_first_rsa_key_is_set_once,
);

fn source(id: &str, project_id: &str, keys: &[&str]) -> Source {
    Source {
        id: id.into(),
        project_id: project_id.into(),
        kind: SourceKind::LiveKit,
        keys: keys
            .iter()
            .map(|key| SourceKey {
                api_key: (*key).into(),
                api_secret: format!("secret of {key}"),
            })
            .collect(),
        hls_rewrite: None,
        created_at: Timestamp(1_000),
    }
}

async fn a_taken_source_key_keeps_nothing_of_its_source(store: Arc<dyn Store>) {
    let project = store.create_project("p", [1; 32]).await.unwrap();
    store
        .create_source(source("src_a", &project.id, &["k1"]))
        .await
        .unwrap();
    // Its second key is taken: the source and its first key must go with the refusal.
    let refused = store
        .create_source(source("src_b", &project.id, &["k2", "k1"]))
        .await;
    assert!(matches!(refused, Err(StoreError::Busy(_))), "{refused:?}");
    assert!(store.source(&project.id, "src_b").await.unwrap().is_none());
    assert!(store.source_by_api_key("k2").await.unwrap().is_none());
    let owner = store.source_by_api_key("k1").await.unwrap().unwrap();
    assert_eq!(owner.id, "src_a");
    assert_eq!(store.sources(&project.id).await.unwrap().len(), 1);
}

/// Key positions are PostgreSQL `INTEGER`s: bound as `i32`, read back in order.
async fn a_source_keeps_its_keys_in_order(store: Arc<dyn Store>) {
    let project = store.create_project("p", [1; 32]).await.unwrap();
    let created = source("src_a", &project.id, &["k3", "k1", "k2"]);
    store.create_source(created.clone()).await.unwrap();
    let read = store.source(&project.id, "src_a").await.unwrap().unwrap();
    assert_eq!(read, created);
    assert!(store.delete_source(&project.id, "src_a").await.unwrap());
    assert!(!store.delete_source(&project.id, "src_a").await.unwrap());
    assert!(store.source_by_api_key("k1").await.unwrap().is_none());
}

async fn a_taken_project_name_keeps_nothing(store: Arc<dyn Store>) {
    let first = store.create_project("same", [1; 32]).await.unwrap();
    let refused = store.create_project("same", [2; 32]).await;
    assert!(matches!(refused, Err(StoreError::Busy(_))), "{refused:?}");
    assert!(store.project_by_key([2; 32]).await.unwrap().is_none());
    // Ensuring a key on the existing name adds it to that project.
    let ensured = store.ensure_project_key("same", [3; 32]).await.unwrap();
    assert_eq!(ensured, first);
    assert_eq!(store.project_by_key([3; 32]).await.unwrap(), Some(first));
}

async fn a_key_use_keeps_the_latest_time_and_the_first_prefix(store: Arc<dyn Store>) {
    let project = store.create_project("p", [1; 32]).await.unwrap();
    let key = store.api_keys(&project.id).await.unwrap().remove(0);
    assert_eq!((key.prefix.as_deref(), key.last_used_at), (None, None));
    store
        .touch_api_key(&key.id, "first", Timestamp(200))
        .await
        .unwrap();
    // A late write of an earlier use must not move the time back.
    store
        .touch_api_key(&key.id, "second", Timestamp(100))
        .await
        .unwrap();
    let key = store.api_keys(&project.id).await.unwrap().remove(0);
    assert_eq!(key.prefix.as_deref(), Some("first"));
    assert_eq!(key.last_used_at, Some(Timestamp(200)));
    let found = store.key_by_hash([1; 32]).await.unwrap().unwrap();
    assert_eq!(found.last_used_at, Some(Timestamp(200)));
}

async fn a_first_rsa_key_is_set_once(store: Arc<dyn Store>) {
    let project = store.create_project("p", [1; 32]).await.unwrap();
    assert!(store.rsa_keys(&project.id).await.unwrap().is_none());
    assert!(store
        .projects_without_rsa_key()
        .await
        .unwrap()
        .contains(&project.id));
    let first = store
        .set_rsa_key_if_absent(&project.id, "pem one".into())
        .await
        .unwrap();
    let second = store
        .set_rsa_key_if_absent(&project.id, "pem two".into())
        .await
        .unwrap();
    assert_eq!(
        (first.current.as_str(), second.current.as_str()),
        ("pem one", "pem one")
    );
    assert_eq!(store.all_rsa_keys().await.unwrap(), vec![first]);
    assert!(store.projects_without_rsa_key().await.unwrap().is_empty());
    let missing = store.rsa_keys("prj_none").await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}
