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
/// webhook, most lanes are idle: a round must cost what the awake ones cost, not all of them.
#[derive(Default)]
pub struct Lanes {
    by_id: HashMap<String, Lane>,
    /// The lanes whose next due is not `Idle`, in id order (the rounds rotate over it).
    awake: BTreeSet<String>,
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
        lane.next_due = next_due;
        match next_due {
            NextDue::Idle => self.awake.remove(id),
            NextDue::Unknown | NextDue::At(_) => self.awake.insert(id.to_owned()),
        };
    }

    /// The store may have something due for this endpoint: ask it in the next round.
    pub fn wake(&mut self, id: &str) {
        self.set_next_due(id, NextDue::Unknown);
    }

    /// Anything may be due anywhere (a change not said to be one endpoint's).
    pub fn wake_all(&mut self) {
        for lane in self.by_id.values_mut() {
            lane.next_due = NextDue::Unknown;
        }
        self.awake = self.by_id.keys().cloned().collect();
    }

    /// The awake lanes' ids, starting at the `turn`-th (modulo their number), so a saturated
    /// global limit is shared fairly across rounds.
    pub fn awake_from(&self, turn: usize) -> Vec<String> {
        let mut ids: Vec<String> = self.awake.iter().cloned().collect();
        let count = ids.len();
        if count > 0 {
            ids.rotate_left(turn % count);
        }
        ids
    }

    /// Replaces the lanes with one per endpoint, keeping the in-flight counts of known ones
    /// and, for an endpoint that did not change, what is known of its next due message; a
    /// new or changed endpoint is asked again.
    pub fn refresh(&mut self, endpoints: Vec<Endpoint>) {
        let mut fresh = HashMap::with_capacity(endpoints.len());
        let mut awake = BTreeSet::new();
        for endpoint in endpoints {
            let id = endpoint.id.clone();
            let lane = match self.by_id.remove(&id) {
                Some(mut lane) => {
                    if *lane.endpoint != endpoint {
                        lane.endpoint = Arc::new(endpoint);
                        lane.next_due = NextDue::Unknown;
                    }
                    lane
                }
                None => Lane {
                    endpoint: Arc::new(endpoint),
                    in_flight: Arc::default(),
                    next_due: NextDue::Unknown,
                },
            };
            if lane.next_due != NextDue::Idle {
                awake.insert(id.clone());
            }
            fresh.insert(id, lane);
        }
        self.by_id = fresh;
        self.awake = awake;
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

    #[test]
    fn only_awake_lanes_are_visited_and_a_refresh_keeps_what_is_known() {
        let mut lanes = Lanes::default();
        lanes.refresh(vec![test_endpoint("a"), test_endpoint("b"), test_endpoint("c")]);
        // New lanes are asked once.
        assert_eq!(lanes.awake_from(0), ["a", "b", "c"]);
        assert_eq!(lanes.awake_from(4), ["b", "c", "a"]);
        lanes.set_next_due("a", NextDue::Idle);
        lanes.set_next_due("b", NextDue::Idle);
        lanes.set_next_due("c", NextDue::At(Timestamp(5)));
        assert_eq!(lanes.awake_from(0), ["c"]);
        lanes.wake("a");
        assert_eq!(lanes.awake_from(0), ["a", "c"]);
        lanes.set_next_due("a", NextDue::Idle);
        // A refresh with the same endpoints wakes nobody; a changed one is asked again, a
        // gone one leaves.
        let mut changed = test_endpoint("b");
        changed.disabled = true;
        lanes.refresh(vec![test_endpoint("a"), changed]);
        assert_eq!(lanes.awake_from(0), ["b"]);
        assert!(!lanes.contains_key("c"));
        lanes.wake_all();
        assert_eq!(lanes.awake_from(1), ["b", "a"]);
        // Waking an unknown endpoint does nothing.
        lanes.wake("zz");
        assert_eq!(lanes.awake_from(0), ["a", "b"]);
    }

    #[test]
    fn the_store_answer_maps_to_next_due() {
        assert_eq!(NextDue::from(None), NextDue::Idle);
        assert_eq!(NextDue::from(Some(Timestamp(5))), NextDue::At(Timestamp(5)));
    }
}
