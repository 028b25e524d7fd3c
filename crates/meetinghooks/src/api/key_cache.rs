//! The API-key cache: which project a key hash opens, for a few seconds, so a request costs
//! no store read. Revocation empties it: the store announces `Changes::KEYS` after its commit,
//! here and (PostgreSQL) on every other node. Entries also expire, in case an announcement
//! is lost, and the cache is bounded, so unknown keys cannot grow it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::error::ApiError;
use crate::domain::timestamp::Timestamp;
use crate::store::keys::{key_prefix, KeyMatch};
use crate::store::{Project, Store};

/// The safety net if a revocation announcement is lost (a failed NOTIFY).
const TTL: Duration = Duration::from_secs(10);
/// Only keys that worked are cached; past this many the oldest are dropped.
const MAX_ENTRIES: usize = 10_000;
/// A key's last-used time is written at most this often (per node).
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

pub struct KeyCache {
    entries: Mutex<Entries>,
    /// Bumped whenever a key was revoked anywhere.
    revocations: watch::Receiver<u64>,
}

#[derive(Default)]
struct Entries {
    /// The revocation generation these entries were read under.
    generation: u64,
    by_hash: HashMap<[u8; 32], Entry>,
}

struct Entry {
    project: Project,
    key_id: String,
    fetched: Instant,
    /// When its last-used time was last written (or found recent in the store).
    touched: Instant,
}

/// A last-used time to write after answering from the cache or the store.
struct Touch {
    key_id: String,
}

impl KeyCache {
    pub fn new(revocations: watch::Receiver<u64>) -> KeyCache {
        KeyCache {
            entries: Mutex::default(),
            revocations,
        }
    }

    /// The project `key` opens, or a 401; records the key's use at most once per `TOUCH_EVERY`.
    pub async fn project(
        &self,
        store: &Arc<dyn Store>,
        key: &str,
        hash: [u8; 32],
    ) -> Result<Project, ApiError> {
        let generation = *self.revocations.borrow();
        if let Some((project, touch)) = self.cached(hash, generation) {
            touch_later(store, touch, key);
            return Ok(project);
        }
        let found: KeyMatch = store
            .key_by_hash(hash)
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown API key"))?;
        let now = Instant::now();
        let since_used = found
            .last_used_at
            .map(|at| Duration::from_millis(Timestamp::now().0.saturating_sub(at.0).max(0) as u64));
        let touched = match since_used {
            Some(age) if age < TOUCH_EVERY => now.checked_sub(age).unwrap_or(now),
            _ => {
                touch_later(
                    store,
                    Some(Touch {
                        key_id: found.key_id.clone(),
                    }),
                    key,
                );
                now
            }
        };
        self.insert(
            hash,
            generation,
            Entry {
                project: found.project.clone(),
                key_id: found.key_id,
                fetched: now,
                touched,
            },
        );
        Ok(found.project)
    }

    /// A fresh entry, with the touch it is due; empties the cache after a revocation.
    fn cached(&self, hash: [u8; 32], generation: u64) -> Option<(Project, Option<Touch>)> {
        let mut entries = self.entries.lock().expect("key cache");
        if entries.generation != generation {
            entries.by_hash.clear();
            entries.generation = generation;
            return None;
        }
        let entry = entries.by_hash.get_mut(&hash)?;
        if entry.fetched.elapsed() >= TTL {
            entries.by_hash.remove(&hash);
            return None;
        }
        let touch = (entry.touched.elapsed() >= TOUCH_EVERY).then(|| {
            entry.touched = Instant::now();
            Touch {
                key_id: entry.key_id.clone(),
            }
        });
        Some((entry.project.clone(), touch))
    }

    /// Keeps what the store said, unless a key was revoked while it was being read.
    fn insert(&self, hash: [u8; 32], generation: u64, entry: Entry) {
        let mut entries = self.entries.lock().expect("key cache");
        // Entries of an older generation would be cleared by the next lookup anyway; one read
        // before a revocation that another lookup already acted on must not come back.
        if entries.generation != generation {
            return;
        }
        if entries.by_hash.len() >= MAX_ENTRIES {
            entries.by_hash.retain(|_, e| e.fetched.elapsed() < TTL);
        }
        if entries.by_hash.len() >= MAX_ENTRIES {
            if let Some(oldest) = entries
                .by_hash
                .iter()
                .min_by_key(|(_, e)| e.fetched)
                .map(|(h, _)| *h)
            {
                entries.by_hash.remove(&oldest);
            }
        }
        entries.by_hash.insert(hash, entry);
    }
}

/// Writes the last-used time beside the request; losing one only makes it older.
fn touch_later(store: &Arc<dyn Store>, touch: Option<Touch>, key: &str) {
    let Some(touch) = touch else { return };
    let (store, prefix) = (store.clone(), key_prefix(key));
    tokio::spawn(async move {
        if let Err(error) = store
            .touch_api_key(&touch.key_id, &prefix, Timestamp::now())
            .await
        {
            tracing::debug!(%error, "recording an API key's use failed");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> Entry {
        Entry {
            project: Project {
                id: format!("prj_{n}"),
                name: "p".into(),
            },
            key_id: format!("key_{n}"),
            fetched: Instant::now(),
            touched: Instant::now(),
        }
    }

    fn hash(n: usize) -> [u8; 32] {
        crate::domain::ids::sha256(n.to_string().as_bytes())
    }

    #[test]
    fn the_cache_stays_bounded() {
        let (_revocations, heard) = watch::channel(0);
        let cache = KeyCache::new(heard);
        for n in 0..MAX_ENTRIES + 10 {
            cache.insert(hash(n), 0, entry(n));
        }
        assert_eq!(cache.entries.lock().unwrap().by_hash.len(), MAX_ENTRIES);
        assert!(cache.cached(hash(MAX_ENTRIES + 9), 0).is_some());
    }

    #[test]
    fn a_revocation_empties_the_cache_and_a_read_from_before_it_is_not_kept() {
        let (revocations, heard) = watch::channel(0);
        let cache = KeyCache::new(heard);
        cache.insert(hash(1), 0, entry(1));
        assert!(cache.cached(hash(1), 0).is_some());
        revocations.send_modify(|g| *g += 1);
        assert!(cache.cached(hash(1), 1).is_none());
        // A lookup that read the store before the revocation must not refill the cache.
        cache.insert(hash(2), 0, entry(2));
        assert!(cache.cached(hash(2), 1).is_none());
        cache.insert(hash(1), 1, entry(1));
        assert!(cache.cached(hash(1), 1).is_some());
    }
}
