//! Standard Webhooks v1 (HMAC-SHA256) signing, verification and header access.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::event::Event;

/// Header carrying the message id; identical on every retry (use it for idempotency).
pub const HEADER_ID: &str = "webhook-id";
/// Header carrying the unix seconds of this delivery attempt.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Header carrying the space-separated list of signatures (`v1,<base64>`).
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// Header carrying the per-meeting sequence number assigned by the meetinghooks
/// server. It is not covered by the signature.
pub const HEADER_SEQUENCE: &str = "webhook-sequence";
/// Header carrying the 1-based number of this delivery attempt of the message: 1 for the
/// first, 2 for the first retry; manual resends count too. It is not covered by the signature.
pub const HEADER_ATTEMPT: &str = "webhook-attempt";

/// Allowed clock skew between the sender's timestamp and now, in seconds.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

const SECRET_PREFIX: &str = "whsec_";

type HmacSha256 = Hmac<Sha256>;

/// Read-only header access, so verification needs no particular HTTP library.
///
/// `name` is passed lowercase; implementations match case-insensitively.
pub trait HeaderLookup {
    /// The value of the first header called `name`, if any.
    fn header(&self, name: &str) -> Option<&str>;
}

impl<T: HeaderLookup + ?Sized> HeaderLookup for &T {
    fn header(&self, name: &str) -> Option<&str> {
        (**self).header(name)
    }
}

fn find<'a, K, V>(mut it: impl Iterator<Item = (&'a K, &'a V)>, name: &str) -> Option<&'a str>
where
    K: AsRef<str> + 'a,
    V: AsRef<str> + 'a,
{
    it.find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_ref())
}

impl<K: AsRef<str>, V: AsRef<str>, S: BuildHasher> HeaderLookup for HashMap<K, V, S> {
    fn header(&self, name: &str) -> Option<&str> {
        find(self.iter(), name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for BTreeMap<K, V> {
    fn header(&self, name: &str) -> Option<&str> {
        find(self.iter(), name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for [(K, V)] {
    fn header(&self, name: &str) -> Option<&str> {
        find(self.iter().map(|(k, v)| (k, v)), name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> HeaderLookup for [(K, V); N] {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for Vec<(K, V)> {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

/// Values that are not visible ASCII are treated as absent.
#[cfg(feature = "http")]
impl HeaderLookup for http::HeaderMap {
    fn header(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why a secret was rejected by [`Webhook::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretError {
    /// The secret (after any `whsec_` prefix) is empty.
    Empty,
    /// The secret is not valid standard base64.
    InvalidBase64,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecretError::Empty => "webhook secret is empty",
            SecretError::InvalidBase64 => "webhook secret is not valid base64",
        })
    }
}

impl std::error::Error for SecretError {}

/// Why a webhook failed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The `webhook-id` header is absent.
    MissingId,
    /// The `webhook-timestamp` header is absent.
    MissingTimestamp,
    /// The `webhook-signature` header is absent.
    MissingSignature,
    /// The `webhook-timestamp` header is not an integer.
    InvalidTimestamp,
    /// The timestamp is more than 5 minutes in the past.
    TimestampTooOld,
    /// The timestamp is more than 5 minutes in the future.
    TimestampTooNew,
    /// No `v1` signature in the header matches the message.
    NoMatchingSignature,
    /// The signature is valid but the body is not a known [`Event`].
    InvalidPayload(String),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::MissingId => write!(f, "missing {HEADER_ID} header"),
            VerifyError::MissingTimestamp => write!(f, "missing {HEADER_TIMESTAMP} header"),
            VerifyError::MissingSignature => write!(f, "missing {HEADER_SIGNATURE} header"),
            VerifyError::InvalidTimestamp => {
                write!(f, "{HEADER_TIMESTAMP} header is not an integer")
            }
            VerifyError::TimestampTooOld => write!(f, "webhook timestamp is too old"),
            VerifyError::TimestampTooNew => write!(f, "webhook timestamp is too far in the future"),
            VerifyError::NoMatchingSignature => write!(f, "no matching webhook signature"),
            VerifyError::InvalidPayload(e) => write!(f, "invalid webhook payload: {e}"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// A webhook signing secret; signs and verifies Standard Webhooks v1 messages.
#[derive(Clone)]
pub struct Webhook {
    key: Vec<u8>,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook").finish_non_exhaustive()
    }
}

impl Webhook {
    /// Builds a verifier from a base64 secret, with or without the `whsec_` prefix.
    pub fn new(secret: &str) -> Result<Webhook, SecretError> {
        let b64 = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
        if b64.is_empty() {
            return Err(SecretError::Empty);
        }
        let key = STANDARD
            .decode(b64)
            .map_err(|_| SecretError::InvalidBase64)?;
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Webhook { key })
    }

    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// Returns `v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">`.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(msg_id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// Checks headers and signature against `body`, using `now_unix` as the current time.
    pub fn verify_raw_at(
        &self,
        headers: &(impl HeaderLookup + ?Sized),
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), VerifyError> {
        let msg_id = headers.header(HEADER_ID).ok_or(VerifyError::MissingId)?;
        let timestamp = headers
            .header(HEADER_TIMESTAMP)
            .ok_or(VerifyError::MissingTimestamp)?;
        let signatures = headers
            .header(HEADER_SIGNATURE)
            .ok_or(VerifyError::MissingSignature)?;

        let ts: i64 = timestamp
            .parse()
            .map_err(|_| VerifyError::InvalidTimestamp)?;
        if now_unix.saturating_sub(ts) > TIMESTAMP_TOLERANCE_SECS {
            return Err(VerifyError::TimestampTooOld);
        }
        if ts.saturating_sub(now_unix) > TIMESTAMP_TOLERANCE_SECS {
            return Err(VerifyError::TimestampTooNew);
        }

        let expected = self.mac(msg_id, ts, body);
        let matched = signatures
            .split(' ')
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|b64| STANDARD.decode(b64).ok())
            .any(|sig| expected.clone().verify_slice(&sig).is_ok());
        if matched {
            Ok(())
        } else {
            Err(VerifyError::NoMatchingSignature)
        }
    }

    /// [`verify_raw_at`](Self::verify_raw_at) with the current system time.
    pub fn verify_raw(
        &self,
        headers: &(impl HeaderLookup + ?Sized),
        body: &[u8],
    ) -> Result<(), VerifyError> {
        self.verify_raw_at(headers, body, now_unix())
    }

    /// Verifies like [`verify_raw_at`](Self::verify_raw_at), then parses the body.
    pub fn verify_at(
        &self,
        headers: &(impl HeaderLookup + ?Sized),
        body: &[u8],
        now_unix: i64,
    ) -> Result<Event, VerifyError> {
        self.verify_raw_at(headers, body, now_unix)?;
        serde_json::from_slice(body).map_err(|e| VerifyError::InvalidPayload(e.to_string()))
    }

    /// Verifies with the current system time, then parses the body.
    pub fn verify(
        &self,
        headers: &(impl HeaderLookup + ?Sized),
        body: &[u8],
    ) -> Result<Event, VerifyError> {
        self.verify_at(headers, body, now_unix())
    }
}

fn now_unix() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

mod videosdk;
pub use videosdk::{
    PublicKeyError, VideosdkVerifier, VideosdkVerifyError, HEADER_VIDEOSDK_SIGNATURE,
};

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod videosdk_tests;
