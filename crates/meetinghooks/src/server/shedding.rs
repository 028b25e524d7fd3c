//! Making room past the connection cap. When a new connection arrives at the cap, one without
//! a complete request head is shed: the one reading a head for longest, else one silent (or
//! idle between requests) for a while, oldest first. A connection serving a request is never
//! shed, nor one just accepted that may not have been read yet: then the new one is let in
//! past the cap, within the headroom.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::watchdog::{Activity, Phase};

/// A connection silent this long may be shed for a new one: a client sends its head at once,
/// but a busy server may take a while to read it.
const IDLE_SHED_AFTER: Duration = super::PRESSED_HEAD_TIMEOUT;
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The connections reading a request head, by when their head began: what every watchdog
/// reads to know whether heads are under pressure, and the first to shed.
pub(super) struct Load {
    heads: Mutex<BTreeSet<(Instant, u64)>>,
    max_connections: usize,
}

impl Load {
    pub(super) fn new(max_connections: usize) -> Self {
        Load {
            heads: Mutex::new(BTreeSet::new()),
            max_connections,
        }
    }

    pub(super) fn head_started(&self, since: Instant, id: u64) {
        self.heads.lock().expect("heads").insert((since, id));
    }

    pub(super) fn head_ended(&self, since: Instant, id: u64) {
        self.heads.lock().expect("heads").remove(&(since, id));
    }

    /// More than half the cap is reading heads: a slow-header attack, or near enough.
    pub(super) fn under_pressure(&self) -> bool {
        self.heads.lock().expect("heads").len() * 2 > self.max_connections
    }

    /// The connection reading a head for longest, taken out of the set.
    fn oldest_head(&self) -> Option<u64> {
        self.heads
            .lock()
            .expect("heads")
            .pop_first()
            .map(|(_, id)| id)
    }
}

/// The open connections that were not shed, by accept order.
pub(super) struct Registry {
    open: Mutex<BTreeMap<u64, Arc<Activity>>>,
    load: Arc<Load>,
    next_id: AtomicU64,
    max_connections: usize,
    log: Mutex<ShedLog>,
}

struct ShedLog {
    last: Option<Instant>,
    unlogged: u64,
}

impl Registry {
    pub(super) fn new(max_connections: usize, load: Arc<Load>) -> Self {
        Registry {
            open: Mutex::new(BTreeMap::new()),
            load,
            next_id: AtomicU64::new(0),
            max_connections,
            log: Mutex::new(ShedLog {
                last: None,
                unlogged: 0,
            }),
        }
    }

    pub(super) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a new connection, shedding one first if the cap is reached.
    pub(super) fn admit(&self, activity: Arc<Activity>) {
        let shed = {
            let mut open = self.open.lock().expect("open connections");
            let shed = open.len() >= self.max_connections && self.shed_one(&mut open);
            open.insert(activity.id, activity);
            shed
        };
        if shed {
            self.note_shed();
        }
    }

    /// At the descriptor ceiling: sheds what it can until the open connections are below the
    /// cap (connections let in past it have had time to be read since).
    pub(super) fn make_room(&self) {
        let mut shed = 0;
        {
            let mut open = self.open.lock().expect("open connections");
            while open.len() >= self.max_connections && self.shed_one(&mut open) {
                shed += 1;
            }
        }
        for _ in 0..shed {
            self.note_shed();
        }
    }

    pub(super) fn remove(&self, id: u64) {
        self.open.lock().expect("open connections").remove(&id);
    }

    /// Sheds the connection reading a head for longest, else the oldest one silent for a
    /// while; false if none may go.
    fn shed_one(&self, open: &mut BTreeMap<u64, Arc<Activity>>) -> bool {
        while let Some(id) = self.load.oldest_head() {
            if let Some(activity) = open.remove(&id) {
                // It may have completed its head since: then it stays.
                if activity.shed() {
                    return true;
                }
                open.insert(id, activity);
            }
        }
        let now = Instant::now();
        let silent = open
            .iter()
            .find_map(|(&id, activity)| match activity.phase() {
                Phase::Idle { since } if now.duration_since(since) >= IDLE_SHED_AFTER => Some(id),
                _ => None,
            });
        let Some(id) = silent else { return false };
        let activity = open.remove(&id).expect("found above");
        if activity.shed() {
            return true;
        }
        open.insert(id, activity);
        false
    }

    fn note_shed(&self) {
        metrics::counter!("meetinghooks_connections_shed_total").increment(1);
        let mut log = self.log.lock().expect("shed log");
        log.unlogged += 1;
        let now = Instant::now();
        if log
            .last
            .is_none_or(|at| now.duration_since(at) >= LOG_EVERY)
        {
            tracing::warn!(
                shed = log.unlogged,
                max_connections = self.max_connections,
                "at max_connections: closed connections without a complete request head"
            );
            log.last = Some(now);
            log.unlogged = 0;
        }
    }
}
