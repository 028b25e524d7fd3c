//! The differential test of the two stores: random operation sequences through the `Store`
//! trait on SQLite, on PostgreSQL and on a reference model must leave the same observable
//! state (message statuses and attempts, per-meeting event sequences, what each operation
//! handed out, endpoints' delivery state). `DIFFERENTIAL_CASES` raises the case count.

mod model;
mod observe;
mod ops;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use meetinghooks::domain::endpoint::{EnabledChange, EndpointPatch, Ordering};
use meetinghooks::domain::signal::Signal;
use meetinghooks::domain::timestamp::Timestamp;
use meetinghooks::engine::SessionEnd;
use meetinghooks::store::postgres::{LeaseClock, PostgresStore};
use meetinghooks::store::sqlite::SqliteStore;
use meetinghooks::store::{
    AttemptOutcome, Failure, LeaseRequest, Leased, NextStep, Store, StoreError,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};

use crate::helpers::{fresh_postgres_database, test_sealer};
use model::{HeldLease, Key, MessageStatusOrd, Model, ResendRefused, ENGINE};
use ops::{Next, Op, ENDPOINTS, MEETINGS};

fn cases() -> u32 {
    std::env::var("DIFFERENTIAL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A store under test, reopened on `Restart`.
struct Opened {
    backend: Backend,
    url: String,
    store: Option<Arc<dyn Store>>,
    _dir: Option<tempfile::TempDir>,
}

impl Opened {
    async fn new(backend: Backend) -> Option<Opened> {
        let (url, dir) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("store.db").display());
                (url, Some(dir))
            }
            Backend::Postgres => (fresh_postgres_database().await?, None),
        };
        let mut opened = Opened {
            backend,
            url,
            store: None,
            _dir: dir,
        };
        opened.open().await;
        Some(opened)
    }

    async fn open(&mut self) {
        self.store = None; // the old process is gone before the new one starts
        let store: Arc<dyn Store> = match self.backend {
            Backend::Sqlite => {
                Arc::new(SqliteStore::open(&self.url, ENGINE, test_sealer()).unwrap())
            }
            // Time is logical here, so leases run on the time the test passes.
            Backend::Postgres => Arc::new(
                PostgresStore::open(&self.url, 4, ENGINE, test_sealer())
                    .await
                    .unwrap()
                    .with_lease_clock(LeaseClock::Caller),
            ),
        };
        self.store = Some(store);
    }

    fn store(&self) -> &dyn Store {
        self.store.as_deref().expect("open")
    }
}

/// A lease the harness holds, as a dispatcher would, with what an outcome needs.
#[derive(Debug, Clone)]
struct Held {
    lease: HeldLease,
    message_id: String,
    position: i64,
    room_id: String,
    ordered: bool,
}

struct Case {
    opened: Opened,
    project: String,
    model: Model,
    now: i64,
    held: Vec<Held>,
    ids: BTreeMap<Key, String>,
}

fn held(leased: &Leased) -> Held {
    Held {
        lease: HeldLease {
            key: Key {
                endpoint: leased.endpoint_id.clone(),
                meeting: leased.room_id.clone(),
                sequence: leased.sequence,
            },
            lease_until: leased.lease_until.0,
            resend_of: leased.resend_of.map(MessageStatusOrd::of),
        },
        message_id: leased.message_id.clone(),
        position: leased.position,
        room_id: leased.room_id.clone(),
        ordered: leased.ordered,
    }
}

fn keys(leases: &[HeldLease]) -> BTreeSet<(Key, i64)> {
    leases
        .iter()
        .map(|l| (l.key.clone(), l.lease_until))
        .collect()
}

impl Case {
    async fn start(backend: Backend) -> Option<Case> {
        let opened = Opened::new(backend).await?;
        let store = opened.store();
        let project = store
            .create_project("differential", [9; 32])
            .await
            .unwrap()
            .id;
        // Logical time, ahead of the wall clock the stores stamp new rows with, so those
        // rows are due at once in both stores and in the model.
        let now = (Timestamp::now().0 / 1000 + 3_600) * 1000;
        for spec in &ENDPOINTS {
            store
                .create_endpoint(ops::endpoint(&project, spec, Timestamp(now)))
                .await
                .unwrap();
        }
        Some(Case {
            opened,
            project,
            model: Model::new(),
            now,
            held: Vec::new(),
            ids: BTreeMap::new(),
        })
    }

    fn store(&self) -> &dyn Store {
        self.opened.store()
    }

    async fn lease(&mut self, endpoint: usize) -> Result<(), TestCaseError> {
        let id = ENDPOINTS[endpoint].id;
        let request = vec![LeaseRequest {
            endpoint_id: id.to_owned(),
            max: 1_000,
        }];
        let (now, until) = (Timestamp(self.now), Timestamp(self.now + model::LEASE_MS));
        let batch = self.store().lease(request, now, until).await.unwrap();
        let got: Vec<Held> = batch.leased.iter().map(held).collect();
        let expected = self.model.lease(id, self.now);
        let got_keys: Vec<HeldLease> = got.iter().map(|h| h.lease.clone()).collect();
        prop_assert_eq!(keys(&got_keys), keys(&expected), "leased for {}", id);
        self.held.extend(got);
        Ok(())
    }

    async fn settle(&mut self, picks: &[(usize, Next)]) -> Result<(), TestCaseError> {
        if self.held.is_empty() {
            return Ok(());
        }
        self.held.sort_by(|a, b| a.lease.cmp(&b.lease));
        let mut chosen: Vec<(usize, Next)> = Vec::new();
        for (pick, next) in picks {
            let index = pick % self.held.len();
            if chosen.iter().all(|(i, _)| *i != index) {
                chosen.push((index, *next));
            }
        }
        let at = Timestamp(self.now);
        let mut outcomes = Vec::new();
        let mut batch = Vec::new();
        for (index, next) in &chosen {
            let h = &self.held[*index];
            let step = match (next, h.lease.resend_of) {
                (Next::Success, _) => NextStep::Succeeded,
                (_, Some(previous)) => NextStep::Restore(previous.status()),
                (Next::RetrySoon | Next::RetryFar, None) => {
                    NextStep::RetryAt(Timestamp(self.now + next.retry_after_ms()))
                }
                (Next::Exhausted, None) => NextStep::Exhausted,
                (Next::Gone, None) => NextStep::Gone("410 Gone".into()),
            };
            let failure = (*next != Next::Success).then(|| Failure {
                kind: "http",
                reason: "http 500".into(),
            });
            outcomes.push(AttemptOutcome {
                message_id: h.message_id.clone(),
                position: h.position,
                lease_until: Timestamp(h.lease.lease_until),
                endpoint_id: h.lease.key.endpoint.clone(),
                room_id: h.room_id.clone(),
                ordered: h.ordered,
                attempt: 1,
                attempted_at: at,
                duration_ms: 3,
                status_code: Some(if failure.is_some() { 500 } else { 200 }),
                error_kind: None,
                failure,
                response_body: String::new(),
                next: step,
            });
            batch.push((h.lease.clone(), *next));
        }
        let mut indexes: Vec<usize> = chosen.iter().map(|(i, _)| *i).collect();
        indexes.sort_unstable();
        for index in indexes.into_iter().rev() {
            self.held.remove(index);
        }
        let until = Timestamp(self.now + model::LEASE_MS);
        let recorded = self
            .store()
            .record_outcomes(outcomes, model::AUTO_DISABLE_MS, Some(until))
            .await
            .unwrap();
        let (expected, promoted) = self.model.settle(&batch, self.now);
        let got_promoted: Vec<Held> = recorded.promoted.iter().map(held).collect();
        let got_keys: Vec<HeldLease> = got_promoted.iter().map(|h| h.lease.clone()).collect();
        prop_assert_eq!(keys(&got_keys), keys(&promoted), "promoted by {:?}", batch);
        let disabled: BTreeSet<String> = recorded.disabled.iter().map(|d| d.0.clone()).collect();
        prop_assert_eq!(disabled, expected.disabled, "disabled by {:?}", batch);
        self.held.extend(got_promoted);
        Ok(())
    }

    async fn update(&mut self, endpoint: usize, change: Change) -> Result<(), TestCaseError> {
        let id = ENDPOINTS[endpoint].id;
        let store = self.store();
        let mut patch = EndpointPatch::at(Timestamp(self.now));
        match change {
            Change::Disabled(true) => patch.enabled = EnabledChange::Disable,
            Change::Disabled(false) => patch.enabled = EnabledChange::Enable,
            Change::Ordering(ordering) => {
                patch.ordering = meetinghooks::domain::endpoint::Change::Set(ordering)
            }
        }
        store
            .update_endpoint(&self.project, id, patch)
            .await
            .unwrap();
        match change {
            Change::Disabled(true) => {
                self.model.disable(id);
            }
            Change::Disabled(false) => self.model.enable(id, self.now),
            Change::Ordering(ordering) => {
                self.model.set_ordering(id, ordering == Ordering::Meeting)
            }
        }
        Ok(())
    }

    async fn resend(&mut self, pick: usize) -> Result<(), TestCaseError> {
        if self.ids.is_empty() {
            return Ok(());
        }
        let (key, id) = self.ids.iter().nth(pick % self.ids.len()).unwrap();
        let (key, id) = (key.clone(), id.clone());
        let until = Timestamp(self.now + model::LEASE_MS);
        let got = self
            .store()
            .lease_for_resend(&self.project, &id, until)
            .await;
        let expected = self.model.resend(&key, self.now);
        match (got, expected) {
            (Ok(leased), Ok(lease)) => {
                let h = held(&leased);
                prop_assert_eq!(&h.lease, &lease, "resend of {:?}", key);
                self.held.push(h);
            }
            (Err(StoreError::Busy(_)), Err(ResendRefused::Busy))
            | (Err(StoreError::NotFound(_)), Err(ResendRefused::NotFound)) => {}
            (got, expected) => {
                prop_assert!(
                    false,
                    "resend of {:?}: store {:?}, model {:?}",
                    key,
                    got,
                    expected
                )
            }
        }
        Ok(())
    }

    async fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Ingest(batch) => {
                let signals: Vec<Signal> = batch
                    .iter()
                    .enumerate()
                    .map(|(i, s)| ops::signal(s, self.now + i as i64))
                    .collect();
                let got = self.store().ingest(&self.project, signals.clone()).await;
                let expected = self.model.ingest(&signals, self.now);
                match (got, expected) {
                    (Ok(got), Ok(expected)) => prop_assert_eq!(got, expected),
                    (Err(StoreError::Conflict { index, .. }), Err(at)) => {
                        prop_assert_eq!(index, at)
                    }
                    (got, expected) => {
                        prop_assert!(false, "ingest: store {:?}, model {:?}", got, expected)
                    }
                }
            }
            Op::Lease(endpoint) => self.lease(*endpoint).await?,
            Op::Settle(picks) => self.settle(picks).await?,
            Op::Advance(ms) => self.now += ms,
            Op::Disable(e) => self.update(*e, Change::Disabled(true)).await?,
            Op::Enable(e) => self.update(*e, Change::Disabled(false)).await?,
            Op::SetOrdering(e, ordering) => self.update(*e, Change::Ordering(*ordering)).await?,
            Op::Recover(e) => {
                let id = ENDPOINTS[*e].id;
                let got = self.store().recover(&self.project, id, Timestamp(0)).await;
                prop_assert_eq!(got.unwrap(), self.model.recover(id, self.now));
            }
            Op::Resend(pick) => self.resend(*pick).await?,
            Op::FireTimers => {
                let got = self
                    .store()
                    .fire_due_timers(Timestamp(self.now))
                    .await
                    .unwrap();
                prop_assert_eq!(got, self.model.fire_timers(self.now));
            }
            Op::EndSession(m) => {
                let meeting = MEETINGS[*m];
                let got = self.store().end_session(
                    &self.project,
                    meeting,
                    SessionEnd::now(Timestamp(self.now)),
                );
                let got = got.await;
                let expected = self.model.end_session(meeting, self.now);
                prop_assert_eq!(got.is_ok(), expected.is_some(), "end of {}", meeting);
            }
            Op::Restart => {
                // The dead process's leases die with it.
                self.held.clear();
                self.opened.open().await;
                if self.opened.backend == Backend::Sqlite {
                    self.store()
                        .release_leases(Timestamp(self.now))
                        .await
                        .unwrap();
                }
                self.model.release_leases(self.now);
                self.now += 61_000;
                for e in 0..ENDPOINTS.len() {
                    self.lease(e).await?;
                }
            }
        }
        Ok(())
    }

    async fn compare(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let snap = observe::snapshot(self.store(), &self.project, self.now).await;
        prop_assert_eq!(&snap.events, &self.model.events, "events after {:?}", op);
        prop_assert_eq!(
            &snap.messages,
            &self.model.seen(self.now),
            "messages after {:?}",
            op
        );
        let expected: Vec<observe::EndpointView> = {
            let mut v: Vec<_> = self
                .model
                .endpoints
                .iter()
                .map(|e| observe::EndpointView {
                    id: e.id.clone(),
                    disabled: e.disabled,
                    failing_since: e.failing_since,
                    last_success_at: e.last_success_at,
                })
                .collect();
            v.sort_by(|a, b| a.id.cmp(&b.id));
            v
        };
        prop_assert_eq!(&snap.endpoints, &expected, "endpoints after {:?}", op);
        self.ids = snap.ids;
        Ok(())
    }

    async fn finish(&self) -> Result<(), TestCaseError> {
        let logs = observe::attempt_logs(self.store(), &self.project, &self.ids).await;
        let expected: BTreeMap<Key, u32> = self
            .model
            .messages
            .iter()
            .map(|m| (m.key.clone(), m.log))
            .collect();
        prop_assert_eq!(logs, expected, "attempt logs");
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum Change {
    Disabled(bool),
    Ordering(Ordering),
}

async fn run_case(backend: Backend, ops: &[Op]) -> Result<(), TestCaseError> {
    let Some(mut case) = Case::start(backend).await else {
        return Ok(());
    };
    for op in ops {
        case.apply(op).await?;
        case.compare(op).await?;
    }
    case.finish().await
}

fn run(backend: Backend) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = Config {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/it/differential/regressions.txt",
        ))),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&ops::sequences(), |ops| {
        runtime.block_on(run_case(backend, &ops))
    });
    if let Err(e) = result {
        panic!("{backend:?} drifts from the model: {e}");
    }
}

#[test]
fn sqlite_agrees_with_the_model() {
    run(Backend::Sqlite);
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs TEST_POSTGRES_URL")]
fn postgres_agrees_with_the_model() {
    if crate::helpers::postgres_admin_url().is_none() {
        println!("skipped: TEST_POSTGRES_URL is not set");
        return;
    }
    run(Backend::Postgres);
}
