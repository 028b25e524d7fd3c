//! The change hub: after a commit a store announces what changed, and the dispatcher and the
//! timer driver, subscribed, look again. No handler has to remember to wake anything.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{watch, Notify};

use crate::outbox::FannedOut;

/// What a commit changed, as far as the background tasks care.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    /// Messages may have become due (ingest, a fired timer, an outcome, recover, a test send).
    pub messages_due: bool,
    /// Endpoints or room webhooks were created, changed, disabled or deleted.
    pub endpoints: bool,
    /// A reconnect grace may have been armed.
    pub timers: bool,
    /// An API key was revoked: caches of keys must forget what they hold.
    pub keys: bool,
}

impl Changes {
    pub const NONE: Changes = Changes {
        messages_due: false,
        endpoints: false,
        timers: false,
        keys: false,
    };
    pub const DUE: Changes = Changes {
        messages_due: true,
        ..Changes::NONE
    };
    pub const ENDPOINTS: Changes = Changes {
        endpoints: true,
        ..Changes::NONE
    };
    pub const TIMERS: Changes = Changes {
        timers: true,
        ..Changes::NONE
    };
    pub const KEYS: Changes = Changes {
        keys: true,
        ..Changes::NONE
    };
    pub const ALL: Changes = Changes {
        messages_due: true,
        endpoints: true,
        timers: true,
        keys: true,
    };

    /// After an ingest: its messages are due, and any accepted signal may have armed a grace.
    pub fn of_ingest(report: &super::IngestReport) -> Changes {
        Changes {
            messages_due: report.messages > 0,
            timers: report.accepted > 0,
            ..Changes::NONE
        }
    }

    /// After outcomes were recorded: the next message of a queue may be due, and an endpoint
    /// may have been disabled.
    pub fn of_outcomes(recorded: &super::Recorded) -> Changes {
        Changes {
            messages_due: true,
            endpoints: !recorded.disabled.is_empty(),
            ..Changes::NONE
        }
    }

    /// `self` when a count is above zero.
    pub fn if_any(self, count: usize) -> Changes {
        if count > 0 {
            self
        } else {
            Changes::NONE
        }
    }

    pub fn and(self, other: Changes) -> Changes {
        Changes {
            messages_due: self.messages_due || other.messages_due,
            endpoints: self.endpoints || other.endpoints,
            timers: self.timers || other.timers,
            keys: self.keys || other.keys,
        }
    }

    pub fn is_empty(self) -> bool {
        self == Changes::NONE
    }

    fn bits(self) -> u8 {
        u8::from(self.messages_due)
            | u8::from(self.endpoints) << 1
            | u8::from(self.timers) << 2
            | u8::from(self.keys) << 3
    }

    fn from_bits(bits: u8) -> Changes {
        Changes {
            messages_due: bits & 1 != 0,
            endpoints: bits & 2 != 0,
            timers: bits & 4 != 0,
            keys: bits & 8 != 0,
        }
    }

    /// Letters for a notification payload: `d`, `e`, `t`, `k`.
    pub fn letters(self) -> String {
        [
            (self.messages_due, 'd'),
            (self.endpoints, 'e'),
            (self.timers, 't'),
            (self.keys, 'k'),
        ]
        .into_iter()
        .filter_map(|(set, letter)| set.then_some(letter))
        .collect()
    }

    /// Unknown letters are ignored, so a newer node's notifications do not confuse an older one.
    pub fn from_letters(letters: &str) -> Changes {
        Changes {
            messages_due: letters.contains('d'),
            endpoints: letters.contains('e'),
            timers: letters.contains('t'),
            keys: letters.contains('k'),
        }
    }
}

/// Which endpoints may have messages due since the dispatcher last looked: the ones an ingest
/// fanned out to, or every one (any other announcement of due messages). Only the dispatcher
/// takes it; other subscribers of `due` only wake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DueFor {
    Endpoints(BTreeSet<String>),
    Every,
}

impl Default for DueFor {
    fn default() -> Self {
        DueFor::Endpoints(BTreeSet::new())
    }
}

impl DueFor {
    fn add(&mut self, endpoints: BTreeSet<String>) {
        if let DueFor::Endpoints(known) = self {
            known.extend(endpoints);
        }
    }
}

/// One store's announcements. `watch` generation counters coalesce, serve any number of
/// subscribers, never lag, and need no receiver.
pub struct ChangeHub {
    /// Filled before `due` is bumped, so whoever sees the bump finds what it names.
    due_for: Arc<Mutex<DueFor>>,
    due: watch::Sender<u64>,
    endpoints: watch::Sender<u64>,
    timers: watch::Sender<u64>,
    keys: watch::Sender<u64>,
    /// Changes announced here that other nodes have yet to hear (PostgreSQL's notifier).
    outbound: Option<Arc<Outbound>>,
}

/// Bits waiting to be sent to other nodes, and a wake-up for the task that sends them.
#[derive(Default)]
pub struct Outbound {
    pending: AtomicU8,
    ready: Notify,
}

impl Outbound {
    /// Waits until something is pending, then takes all of it.
    pub async fn take(&self) -> Changes {
        loop {
            let bits = self.pending.swap(0, Ordering::AcqRel);
            if bits != 0 {
                return Changes::from_bits(bits);
            }
            self.ready.notified().await;
        }
    }

    fn add(&self, changes: Changes) {
        self.pending.fetch_or(changes.bits(), Ordering::AcqRel);
        // `notify_one` keeps a permit when nobody waits, so no announcement is missed.
        self.ready.notify_one();
    }
}

impl Default for ChangeHub {
    fn default() -> Self {
        ChangeHub::new(None)
    }
}

impl ChangeHub {
    /// A hub for one node; with `outbound`, announcements are also queued for other nodes.
    pub fn new(outbound: Option<Arc<Outbound>>) -> ChangeHub {
        ChangeHub {
            due_for: Arc::default(),
            due: watch::Sender::new(0),
            endpoints: watch::Sender::new(0),
            timers: watch::Sender::new(0),
            keys: watch::Sender::new(0),
            outbound,
        }
    }

    /// After a commit of this node: subscribers here hear it, and other nodes (if any) later.
    pub fn announce(&self, changes: Changes) {
        if changes.is_empty() {
            return;
        }
        self.publish(changes);
        if let Some(outbound) = &self.outbound {
            outbound.add(changes);
        }
    }

    /// After an ingest's commit: here only the lanes of the endpoints it created due
    /// messages for need a look; other nodes hear "messages due". Hands the report back.
    pub fn announce_ingest(
        &self,
        (report, fanned): (super::IngestReport, FannedOut),
    ) -> super::IngestReport {
        let changes = Changes::of_ingest(&report);
        if changes.messages_due {
            self.lock_due_for().add(fanned.due_for);
        }
        self.bump(changes);
        if let Some(outbound) = &self.outbound {
            outbound.add(changes);
        }
        report
    }

    fn lock_due_for(&self) -> std::sync::MutexGuard<'_, DueFor> {
        // A set of ids: one a panicking thread left behind is still usable.
        self.due_for
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// After outcomes were recorded. This node's dispatcher wrote them and wakes the lanes of
    /// their endpoints itself, so here only a disabled endpoint is news; resetting every lane
    /// on every outcome batch would make each leasing round ask for every endpoint. Other
    /// nodes hear all of it.
    pub fn announce_outcomes(&self, recorded: &super::Recorded) {
        let changes = Changes::of_outcomes(recorded);
        self.publish(Changes {
            messages_due: false,
            ..changes
        });
        if let Some(outbound) = &self.outbound {
            outbound.add(changes);
        }
    }

    /// Tells this node's subscribers only (a change heard from another node).
    pub fn publish(&self, changes: Changes) {
        if changes.messages_due {
            *self.lock_due_for() = DueFor::Every;
        }
        self.bump(changes);
    }

    fn bump(&self, changes: Changes) {
        let bump = |generation: &mut u64| *generation = generation.wrapping_add(1);
        if changes.messages_due {
            self.due.send_modify(bump);
        }
        if changes.endpoints {
            self.endpoints.send_modify(bump);
        }
        if changes.timers {
            self.timers.send_modify(bump);
        }
        if changes.keys {
            self.keys.send_modify(bump);
        }
    }

    pub fn subscribe(&self) -> ChangeFeed {
        ChangeFeed {
            due_for: self.due_for.clone(),
            due: self.due.subscribe(),
            endpoints: self.endpoints.subscribe(),
            timers: self.timers.subscribe(),
            keys: self.keys.subscribe(),
        }
    }
}

/// A subscriber's view: each receiver changes when its kind was announced since last seen.
pub struct ChangeFeed {
    due_for: Arc<Mutex<DueFor>>,
    pub due: watch::Receiver<u64>,
    pub endpoints: watch::Receiver<u64>,
    pub timers: watch::Receiver<u64>,
    pub keys: watch::Receiver<u64>,
}

impl ChangeFeed {
    /// Which endpoints to look at again, emptied for the next announcements (the dispatcher's).
    pub fn take_due_for(&self) -> DueFor {
        let mut due_for = self
            .due_for
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut *due_for)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_round_trip() {
        for bits in 0..16 {
            let changes = Changes::from_bits(bits);
            assert_eq!(Changes::from_letters(&changes.letters()), changes);
        }
        assert_eq!(Changes::from_letters("dx"), Changes::DUE);
    }

    #[tokio::test]
    async fn announcements_reach_subscribers_and_coalesce_for_other_nodes() {
        let outbound = Arc::new(Outbound::default());
        let hub = ChangeHub::new(Some(outbound.clone()));
        let mut feed = hub.subscribe();
        hub.announce(Changes::DUE);
        hub.announce(Changes::ENDPOINTS);
        assert!(feed.due.has_changed().unwrap());
        assert!(feed.endpoints.has_changed().unwrap());
        assert!(!feed.timers.has_changed().unwrap());
        feed.due.borrow_and_update();
        assert!(!feed.due.has_changed().unwrap());
        assert_eq!(outbound.take().await, Changes::DUE.and(Changes::ENDPOINTS));
        hub.publish(Changes::TIMERS);
        assert!(feed.timers.has_changed().unwrap());
        assert_eq!(outbound.pending.load(Ordering::Acquire), 0);
    }

    #[test]
    fn an_ingest_names_its_endpoints_and_anything_else_means_every_one() {
        let hub = ChangeHub::new(None);
        let feed = hub.subscribe();
        let report = super::super::IngestReport {
            accepted: 1,
            messages: 2,
            ..Default::default()
        };
        let named = |ids: &[&str]| ids.iter().map(|id| id.to_string()).collect::<BTreeSet<_>>();
        let ingested = |report: &super::super::IngestReport, ids: &[&str]| {
            let due_for = named(ids);
            let messages = due_for.len();
            (*report, FannedOut { messages, due_for })
        };
        hub.announce_ingest(ingested(&report, &["ep_a"]));
        hub.announce_ingest(ingested(&report, &["ep_b"]));
        assert_eq!(
            feed.take_due_for(),
            DueFor::Endpoints(named(&["ep_a", "ep_b"]))
        );
        assert_eq!(feed.take_due_for(), DueFor::Endpoints(BTreeSet::new()));
        // An ingest without messages names nothing.
        hub.announce_ingest(ingested(&Default::default(), &["ep_c"]));
        assert_eq!(feed.take_due_for(), DueFor::Endpoints(BTreeSet::new()));
        hub.announce(Changes::DUE);
        hub.announce_ingest(ingested(&report, &["ep_a"]));
        assert_eq!(feed.take_due_for(), DueFor::Every);
    }
}
