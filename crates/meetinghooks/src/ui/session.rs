//! Dashboard sign-in sessions, kept in this process's memory: a random id in an `HttpOnly`
//! cookie maps to the project's key hash, a CSRF token and an expiry. A restart signs
//! everyone out; on a cluster a browser must stay on one node (or sign in per node).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use crate::domain::ids::random_hex_id;

/// The cookie that carries the session id.
pub const COOKIE: &str = "mh_session";
/// How long a session lasts after sign-in.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Sessions kept at most; the oldest go first, so sign-ins cannot fill the memory.
const MAX_SESSIONS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct UiSession {
    /// The API key's hash: the project is looked up by it on every request, so a revoked
    /// key ends its sessions.
    pub key_hash: [u8; 32],
    pub csrf: String,
    pub expires: Instant,
    /// One message for the next page, e.g. an action's error.
    pub flash: Option<Flash>,
}

#[derive(Debug, Clone)]
pub struct Flash {
    pub kind: FlashKind,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashKind {
    Done,
    Failed,
}

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, UiSession>>,
}

impl Sessions {
    /// A new session for the key; returns its id.
    pub fn create(&self, key_hash: [u8; 32]) -> String {
        let id = random_hex_id("", 32);
        let session = UiSession {
            key_hash,
            csrf: random_hex_id("", 32),
            expires: Instant::now() + LIFETIME,
            flash: None,
        };
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(id.clone(), session);
        id
    }

    /// The live session of this id; an expired one is removed.
    pub fn get(&self, id: &str) -> Option<UiSession> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(id) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// Takes the session's flash message, shown once.
    pub fn take_flash(&self, id: &str) -> Option<Flash> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get_mut(id).and_then(|s| s.flash.take())
    }

    pub fn set_flash(&self, id: &str, flash: Flash) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = map.get_mut(id) {
            s.flash = Some(flash);
        }
    }

    pub fn remove(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}

/// Whether `given` is the session's token, compared in constant time.
pub fn csrf_matches(session: &UiSession, given: &str) -> bool {
    session.csrf.as_bytes().ct_eq(given.as_bytes()).into()
}

/// The session id from a `Cookie` header.
pub fn cookie_value(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        assert_eq!(cookie_value("a=1; mh_session=abc; b=2"), Some("abc"));
        assert_eq!(cookie_value("mh_session="), None);
        assert_eq!(cookie_value("xmh_session=abc"), None);
    }

    #[test]
    fn a_session_has_its_own_csrf_token() {
        let sessions = Sessions::default();
        let (a, b) = (sessions.create([1; 32]), sessions.create([1; 32]));
        let (a, b) = (sessions.get(&a).unwrap(), sessions.get(&b).unwrap());
        assert_ne!(a.csrf, b.csrf);
        assert!(csrf_matches(&a, &a.csrf.clone()));
        assert!(!csrf_matches(&a, &b.csrf));
        assert!(!csrf_matches(&a, ""));
    }
}
