//! Endpoints: where events are delivered, how, and with which signing secrets.

use std::collections::BTreeMap;

use base64::Engine;
use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::signatures::Signatures;
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
    /// Which signatures its requests carry.
    pub signatures: Signatures,
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
    /// An enabled account endpoint with the defaults of `POST /v1/endpoints`: every event,
    /// ordered per meeting, no limits or headers of its own, no history.
    pub fn new(
        id: String,
        project_id: String,
        url: String,
        secret: String,
        now: Timestamp,
    ) -> Self {
        Endpoint {
            id,
            project_id,
            room_id: None,
            url,
            description: String::new(),
            events: Subscription::parse(vec!["*".into()]).expect("* is valid"),
            ordering: Ordering::Meeting,
            rate_limit: None,
            headers: BTreeMap::new(),
            retry_schedule: None,
            timeout_ms: None,
            signatures: Signatures::standard(),
            disabled: false,
            disabled_reason: None,
            secret,
            secret_previous: None,
            secret_previous_until: None,
            failing_since: None,
            last_success_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Secrets to sign with at `now`: the current one, plus the previous one during its overlap.
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

/// One setting of a PATCH: left as stored, or set to a new value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Change<T> {
    #[default]
    Keep,
    Set(T),
}

impl<T: Clone> Change<T> {
    fn apply_to(&self, field: &mut T) {
        if let Change::Set(value) = self {
            *field = value.clone();
        }
    }
}

/// What a PATCH does to an endpoint's `disabled`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EnabledChange {
    #[default]
    Keep,
    Disable,
    Enable,
}

/// What applying a patch did to the delivery state; the store follows up on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryChange {
    Unchanged,
    /// Newly disabled: its queued messages are skipped.
    Disabled,
    /// Newly enabled: its stranded queues move on.
    Enabled,
}

/// The settings a PATCH changes. The store applies it to the row it reads inside its
/// transaction, so a concurrent rotation or delivery outcome is never written back stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointPatch {
    pub url: Change<String>,
    pub description: Change<String>,
    pub events: Change<Subscription>,
    pub ordering: Change<Ordering>,
    pub rate_limit: Change<Option<u32>>,
    pub headers: Change<BTreeMap<String, String>>,
    pub retry_schedule: Change<Option<Vec<u64>>>,
    pub timeout_ms: Change<Option<u64>>,
    pub signatures: Change<Signatures>,
    pub enabled: EnabledChange,
    pub updated_at: Timestamp,
}

impl EndpointPatch {
    /// A patch that changes nothing but `updated_at`.
    pub fn at(updated_at: Timestamp) -> Self {
        EndpointPatch {
            url: Change::Keep,
            description: Change::Keep,
            events: Change::Keep,
            ordering: Change::Keep,
            rate_limit: Change::Keep,
            headers: Change::Keep,
            retry_schedule: Change::Keep,
            timeout_ms: Change::Keep,
            signatures: Change::Keep,
            enabled: EnabledChange::Keep,
            updated_at,
        }
    }

    /// Applies the patch to the endpoint as stored. Secrets and `last_success_at` are never
    /// touched: rotation and delivery own them.
    pub fn apply(&self, endpoint: &mut Endpoint) -> DeliveryChange {
        self.url.apply_to(&mut endpoint.url);
        self.description.apply_to(&mut endpoint.description);
        self.events.apply_to(&mut endpoint.events);
        self.ordering.apply_to(&mut endpoint.ordering);
        self.rate_limit.apply_to(&mut endpoint.rate_limit);
        self.headers.apply_to(&mut endpoint.headers);
        self.retry_schedule.apply_to(&mut endpoint.retry_schedule);
        self.timeout_ms.apply_to(&mut endpoint.timeout_ms);
        self.signatures.apply_to(&mut endpoint.signatures);
        endpoint.updated_at = self.updated_at;
        match self.enabled {
            EnabledChange::Enable if endpoint.disabled => {
                // A fresh start for the auto-disable clock.
                endpoint.disabled = false;
                endpoint.disabled_reason = None;
                endpoint.failing_since = None;
                DeliveryChange::Enabled
            }
            EnabledChange::Disable if !endpoint.disabled => {
                endpoint.disabled = true;
                endpoint.disabled_reason = Some("disabled through the API".into());
                DeliveryChange::Disabled
            }
            _ => DeliveryChange::Unchanged,
        }
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
pub const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-type",
    "content-length",
    "user-agent",
    "connection",
    "transfer-encoding",
    crate::videosdk::HEADER,
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
    // Visible ASCII, spaces and tabs: RFC 9110 makes other bytes obsolete in field values.
    if value.len() > 4096
        || value
            .bytes()
            .any(|b| !(b == b'\t' || (0x20..0x7f).contains(&b)))
    {
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
    fn a_patch_changes_only_its_fields_and_never_the_secrets() {
        let now = Timestamp(1_000);
        let mut endpoint = Endpoint {
            id: "ep_1".into(),
            project_id: "p".into(),
            room_id: None,
            url: "https://a.example/".into(),
            description: "old".into(),
            events: Subscription::parse(vec!["*".into()]).unwrap(),
            ordering: Ordering::Meeting,
            rate_limit: Some(5),
            headers: BTreeMap::new(),
            retry_schedule: None,
            timeout_ms: None,
            signatures: Signatures::standard(),
            disabled: true,
            disabled_reason: Some("http 410".into()),
            secret: "whsec_new".into(),
            secret_previous: Some("whsec_old".into()),
            secret_previous_until: Some(Timestamp(9)),
            failing_since: Some(Timestamp(5)),
            last_success_at: Some(Timestamp(7)),
            created_at: Timestamp(1),
            updated_at: Timestamp(1),
        };
        let before = endpoint.clone();
        let patch = EndpointPatch {
            description: Change::Set("new".into()),
            enabled: EnabledChange::Enable,
            ..EndpointPatch::at(now)
        };
        assert_eq!(patch.apply(&mut endpoint), DeliveryChange::Enabled);
        assert_eq!(endpoint.description, "new");
        assert_eq!(endpoint.url, before.url);
        assert_eq!(endpoint.rate_limit, Some(5));
        assert_eq!(endpoint.secret, "whsec_new");
        assert_eq!(endpoint.secret_previous, before.secret_previous);
        assert_eq!(endpoint.last_success_at, before.last_success_at);
        assert_eq!((endpoint.disabled, endpoint.failing_since), (false, None));
        // Enabling an enabled endpoint changes nothing more.
        assert_eq!(patch.apply(&mut endpoint), DeliveryChange::Unchanged);
        let disable = EndpointPatch {
            enabled: EnabledChange::Disable,
            ..EndpointPatch::at(now)
        };
        assert_eq!(disable.apply(&mut endpoint), DeliveryChange::Disabled);
        assert_eq!(disable.apply(&mut endpoint), DeliveryChange::Unchanged);
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
