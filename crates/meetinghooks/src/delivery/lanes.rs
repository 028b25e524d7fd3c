//! The run loop's view of endpoints: a lane per endpoint, what it knows of the endpoint's next
//! due message, which lanes may have work (a round visits only those), and promoted leases
//! whose endpoint it does not know (orphans).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Instant;

use crate::domain::endpoint::Endpoint;
use crate::domain::timestamp::Timestamp;
use crate::outbox::fence;
use crate::store::Leased;

/// A lease this process holds, with until when it surely holds on the monotonic clock.
#[derive(Debug)]
pub struct Held {
    pub leased: Leased,
    pub until: Instant,
}

impl Held {
    /// `leased` as the store handed it out to a request made at `asked_at`.
    pub fn from_store(leased: Leased, asked_at: Instant) -> Held {
        let until = fence::held_until(asked_at, leased.lease_left_ms);
        Held { leased, until }
    }
}

/// What the loop knows of an endpoint's next due message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextDue {
    /// Unknown: probe the store.
    Unknown,
    /// Nothing is due or scheduled.
    Idle,
    /// Nothing is due before this time.
    At(Timestamp),
}

impl From<Option<Timestamp>> for NextDue {
    /// The store's answer: the next due time, or `None` when nothing is queued.
    fn from(next: Option<Timestamp>) -> Self {
        next.map_or(NextDue::Idle, NextDue::At)
    }
}

/// One endpoint's runtime state in this process.
pub struct Lane {
    pub endpoint: Arc<Endpoint>,
    pub in_flight: Arc<AtomicUsize>,
    pub next_due: NextDue,
}

/// Every endpoint's lane, and which lanes may have work. With many rooms that have their own
/// webhook, most lanes are idle: a round costs what the lanes it asks cost, not all of them.
#[derive(Default)]
pub struct Lanes {
    by_id: HashMap<String, Lane>,
    /// Lanes to ask the store about (next due unknown, or past), in id order.
    ask: BTreeSet<String>,
    /// Lanes with nothing due before a known time.
    later: BTreeSet<(Timestamp, String)>,
    /// The last lane asked: the next round starts after it, so a saturated global limit is
    /// shared in turn.
    cursor: Option<String>,
    /// Woken before their endpoint was loaded (all of them, or these): a new lane starts
    /// asking only then, or on the first load.
    missed: Missed,
    loaded: bool,
}

#[derive(Default)]
struct Missed {
    every: bool,
    ids: BTreeSet<String>,
}

impl Lanes {
    pub fn get(&self, id: &str) -> Option<&Lane> {
        self.by_id.get(id)
    }

    pub fn contains_key(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn set_next_due(&mut self, id: &str, next_due: NextDue) {
        let Some(lane) = self.by_id.get_mut(id) else {
            return;
        };
        match lane.next_due {
            NextDue::Unknown => self.ask.remove(id),
            NextDue::At(at) => self.later.remove(&(at, id.to_owned())) || self.ask.remove(id),
            NextDue::Idle => false,
        };
        lane.next_due = next_due;
        match next_due {
            NextDue::Unknown => self.ask.insert(id.to_owned()),
            NextDue::At(at) => self.later.insert((at, id.to_owned())),
            NextDue::Idle => false,
        };
    }

    /// The store may have something due for this endpoint: ask it in the next round.
    pub fn wake(&mut self, id: &str) {
        match self.by_id.contains_key(id) {
            true => self.set_next_due(id, NextDue::Unknown),
            false => {
                self.missed.ids.insert(id.to_owned());
            }
        }
    }

    /// Anything may be due anywhere (a change not said to be one endpoint's).
    pub fn wake_all(&mut self) {
        for lane in self.by_id.values_mut() {
            lane.next_due = NextDue::Unknown;
        }
        self.ask = self.by_id.keys().cloned().collect();
        self.later.clear();
        self.missed.every = true;
    }

    /// Moves the lanes whose time came to the ones to ask; returns the next time one comes.
    pub fn due_by(&mut self, now: Timestamp) -> Option<Timestamp> {
        while let Some((at, id)) = self.later.first().cloned() {
            if at > now {
                return Some(at);
            }
            self.later.pop_first();
            self.ask.insert(id);
        }
        None
    }

    /// The lanes to ask, starting after the last one asked and wrapping around.
    pub fn to_ask(&self) -> impl Iterator<Item = &String> {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let (after, up_to) = match self.cursor.as_deref() {
            Some(cursor) => (
                self.ask.range::<str, _>((Excluded(cursor), Unbounded)),
                self.ask.range::<str, _>((Unbounded, Included(cursor))),
            ),
            // Nothing sorts below "": the second part is empty.
            None => (
                self.ask.range::<str, _>((Unbounded, Unbounded)),
                self.ask.range::<str, _>((Unbounded, Excluded(""))),
            ),
        };
        after.chain(up_to)
    }

    /// Remembers the last lane a round asked.
    pub fn asked_up_to(&mut self, id: &str) {
        self.cursor = Some(id.to_owned());
    }

    /// Replaces the lanes with one per endpoint, keeping the in-flight counts of known ones
    /// and, for an endpoint that did not change, what is known of its next due message. A
    /// changed endpoint is asked again; a new one on the first load, or when a wake-up named
    /// it (or every lane) before it was loaded: otherwise nothing can be due for it yet.
    pub fn refresh(&mut self, endpoints: Vec<Endpoint>) {
        let missed = std::mem::take(&mut self.missed);
        let ask_new = !self.loaded || missed.every;
        self.loaded = true;
        let mut old = std::mem::take(&mut self.by_id);
        self.ask.clear();
        self.later.clear();
        for endpoint in endpoints {
            let id = endpoint.id.clone();
            let lane = match old.remove(&id) {
                Some(mut lane) => {
                    if *lane.endpoint != endpoint {
                        lane.endpoint = Arc::new(endpoint);
                        lane.next_due = NextDue::Unknown;
                    }
                    lane
                }
                None => Lane {
                    next_due: match ask_new || missed.ids.contains(&id) {
                        true => NextDue::Unknown,
                        false => NextDue::Idle,
                    },
                    endpoint: Arc::new(endpoint),
                    in_flight: Arc::default(),
                },
            };
            let next_due = lane.next_due;
            self.by_id.insert(id.clone(), lane);
            // Placed in `ask` or `later` from its state.
            self.by_id.get_mut(&id).expect("just inserted").next_due = NextDue::Idle;
            self.set_next_due(&id, next_due);
        }
    }
}

/// Promoted leases for endpoints the loop does not know. The endpoint may have been created
/// since the last reload, so they ask for one reload; if the endpoint is still unknown after it,
/// it was deleted with its messages, and the lease is dropped (it expires unused).
#[derive(Debug, Default)]
pub struct Orphans {
    waiting: Vec<Held>,
    reload: bool,
}

impl Orphans {
    pub fn push(&mut self, held: Held) {
        self.waiting.push(held);
        self.reload = true;
    }

    /// Whether an orphan waits for a reload of the endpoints.
    pub fn want_reload(&self) -> bool {
        self.reload
    }

    /// After a successful reload: the orphans whose endpoint is now known, to send. The others
    /// are dropped, logged.
    pub fn after_reload(&mut self, lanes: &Lanes) -> Vec<Held> {
        self.reload = false;
        let (known, gone): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|held| lanes.contains_key(&held.leased.endpoint_id));
        for Held { leased, .. } in gone {
            tracing::info!(
                endpoint = %leased.endpoint_id,
                message_id = %leased.message_id,
                "dropping a promoted message: its endpoint is gone"
            );
        }
        known
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leased(endpoint_id: &str) -> Held {
        let leased = Leased {
            message_id: format!("msg_{endpoint_id}"),
            position: 1,
            endpoint_id: endpoint_id.into(),
            room_id: "m".into(),
            ordered: true,
            sequence: 1,
            payload: b"{}".to_vec(),
            attempts: 0,
            event_created_at: Timestamp(0),
            resend_of: None,
            lease_until: Timestamp(90_000),
            lease_left_ms: 90_000,
        };
        Held::from_store(leased, Instant::now())
    }

    #[test]
    fn an_orphan_asks_for_one_reload_then_is_sent_or_dropped() {
        let mut orphans = Orphans::default();
        assert!(!orphans.want_reload());
        orphans.push(leased("created"));
        orphans.push(leased("deleted"));
        assert!(orphans.want_reload());
        let mut lanes = Lanes::default();
        let endpoint = test_endpoint("created");
        lanes.refresh(vec![endpoint]);
        let send = orphans.after_reload(&lanes);
        assert_eq!(send.len(), 1);
        assert_eq!(send[0].leased.endpoint_id, "created");
        // The deleted endpoint's lease is gone: no more reloads for it.
        assert!(!orphans.want_reload());
        assert!(orphans.after_reload(&lanes).is_empty());
    }

    fn test_endpoint(id: &str) -> Endpoint {
        Endpoint::new(
            id.into(),
            "p".into(),
            "http://127.0.0.1/".into(),
            "whsec_x".into(),
            Timestamp(0),
        )
    }

    fn asked(lanes: &Lanes) -> Vec<&str> {
        lanes.to_ask().map(String::as_str).collect()
    }

    #[test]
    fn only_lanes_that_may_have_work_are_asked_in_turn() {
        let mut lanes = Lanes::default();
        lanes.refresh(vec![
            test_endpoint("a"),
            test_endpoint("b"),
            test_endpoint("c"),
        ]);
        // The first load asks every lane once.
        assert_eq!(asked(&lanes), ["a", "b", "c"]);
        lanes.asked_up_to("a");
        assert_eq!(asked(&lanes), ["b", "c", "a"]);
        lanes.set_next_due("a", NextDue::Idle);
        lanes.set_next_due("b", NextDue::Idle);
        lanes.set_next_due("c", NextDue::At(Timestamp(5)));
        assert!(asked(&lanes).is_empty());
        assert_eq!(lanes.due_by(Timestamp(4)), Some(Timestamp(5)));
        assert!(asked(&lanes).is_empty());
        assert_eq!(lanes.due_by(Timestamp(5)), None);
        assert_eq!(asked(&lanes), ["c"]);
        lanes.set_next_due("c", NextDue::Idle);
        lanes.wake("a");
        assert_eq!(asked(&lanes), ["a"]);
        lanes.set_next_due("a", NextDue::Idle);
        // A refresh with the same endpoints asks nobody; a changed one is asked again, a
        // gone one leaves, a new one waits for a wake-up.
        let mut changed = test_endpoint("b");
        changed.disabled = true;
        lanes.refresh(vec![test_endpoint("a"), changed, test_endpoint("d")]);
        assert_eq!(asked(&lanes), ["b"]);
        assert!(!lanes.contains_key("c"));
        lanes.wake_all();
        // In turn after the last one asked ("a").
        assert_eq!(asked(&lanes), ["b", "d", "a"]);
    }

    #[test]
    fn a_wake_up_before_its_endpoint_was_loaded_is_kept_for_the_load() {
        let mut lanes = Lanes::default();
        lanes.refresh(vec![test_endpoint("a")]);
        lanes.set_next_due("a", NextDue::Idle);
        lanes.wake("new");
        lanes.refresh(vec![
            test_endpoint("a"),
            test_endpoint("new"),
            test_endpoint("other"),
        ]);
        assert_eq!(asked(&lanes), ["new"]);
        // Every lane woken: the next load asks its new lanes too.
        lanes.wake_all();
        lanes.set_next_due("a", NextDue::Idle);
        lanes.set_next_due("new", NextDue::Idle);
        lanes.set_next_due("other", NextDue::Idle);
        lanes.refresh(vec![test_endpoint("a"), test_endpoint("late")]);
        assert_eq!(asked(&lanes), ["late"]);
    }

    #[test]
    fn the_store_answer_maps_to_next_due() {
        assert_eq!(NextDue::from(None), NextDue::Idle);
        assert_eq!(NextDue::from(Some(Timestamp(5))), NextDue::At(Timestamp(5)));
    }
}
