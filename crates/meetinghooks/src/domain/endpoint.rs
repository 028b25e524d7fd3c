//! Endpoints: where events are delivered, how, and with which signing secrets.

use std::collections::BTreeMap;

use base64::Engine;
use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::subscription::Subscription;
use super::timestamp::Timestamp;

/// Whether a meeting's messages to one endpoint are delivered strictly one after another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ordering {
    /// Message n+1 of an (endpoint, meeting) pair waits until n succeeded or is exhausted.
    #[default]
    Meeting,
    /// Messages are independent.
    None,
}

impl Ordering {
    pub fn as_str(self) -> &'static str {
        match self {
            Ordering::Meeting => "meeting",
            Ordering::None => "none",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "meeting" => Some(Ordering::Meeting),
            "none" => Some(Ordering::None),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: String,
    pub project_id: String,
    /// Set for a room's own webhook: it receives only that room's events.
    pub room_id: Option<String>,
    pub url: String,
    pub description: String,
    pub events: Subscription,
    pub ordering: Ordering,
    /// Most requests per second.
    pub rate_limit: Option<u32>,
    pub headers: BTreeMap<String, String>,
    /// Delays before each attempt, in milliseconds; `None` uses the global schedule.
    pub retry_schedule: Option<Vec<u64>>,
    pub timeout_ms: Option<u64>,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub secret: String,
    pub secret_previous: Option<String>,
    pub secret_previous_until: Option<Timestamp>,
    pub failing_since: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Endpoint {
    /// Secrets to sign with at `now`: the current one, plus the previous one during its overlap.
    /// Takes the delivery state (disabled, failing since, last success) from `stored`, which
    /// delivery may have changed since the caller read the endpoint; `set_disabled` changes it.
    pub fn keep_delivery_state(&mut self, stored: &Endpoint, set_disabled: Option<bool>) {
        self.failing_since = stored.failing_since;
        self.last_success_at = stored.last_success_at;
        self.disabled = stored.disabled;
        self.disabled_reason = stored.disabled_reason.clone();
        match set_disabled {
            Some(false) if stored.disabled => {
                // Re-enabled: a fresh start for the auto-disable clock.
                self.disabled = false;
                self.disabled_reason = None;
                self.failing_since = None;
            }
            Some(true) if !stored.disabled => {
                self.disabled = true;
                self.disabled_reason = Some("disabled through the API".into());
            }
            _ => {}
        }
    }

    pub fn signing_secrets(&self, now: Timestamp) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(previous), Some(until)) = (&self.secret_previous, self.secret_previous_until) {
            if now < until {
                secrets.push(previous);
            }
        }
        secrets
    }
}

/// A new signing secret: `whsec_` and base64 of 32 random bytes.
pub fn generate_secret() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill(&mut raw[..]);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Headers we set ourselves and that an endpoint may not override.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-type",
    "content-length",
    "user-agent",
    "connection",
    "transfer-encoding",
];

/// Checks an endpoint's custom header: a valid token name, not one we own, a printable value.
pub fn validate_header(name: &str, value: &str) -> Result<(), String> {
    let lower = name.to_ascii_lowercase();
    let token = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(format!("header name {name:?} is not a valid HTTP token"));
    }
    if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("webhook-") {
        return Err(format!(
            "header {name:?} is set by meetinghooks and cannot be overridden"
        ));
    }
    if value.len() > 4096 || value.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f) {
        return Err(format!("header {name:?} has an invalid or overlong value"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_the_standard_shape() {
        let s = generate_secret();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(s.strip_prefix("whsec_").unwrap())
            .unwrap();
        assert!(raw.len() >= 24);
    }

    #[test]
    fn headers() {
        assert!(validate_header("X-Tenant", "acme").is_ok());
        assert!(validate_header("webhook-id", "x").is_err());
        assert!(validate_header("Content-Type", "x").is_err());
        assert!(validate_header("bad name", "x").is_err());
        assert!(validate_header("X-A", "line\nbreak").is_err());
    }
}
