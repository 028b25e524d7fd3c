//! The JSON answers of `/v1/endpoints` and the room-webhook secret routes.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::endpoint::{Endpoint, Ordering};
use crate::domain::signatures::SignatureScheme;
use crate::domain::timestamp::Timestamp;

/// Whether a meeting's messages to the endpoint are delivered one after another.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderingView {
    /// Message n+1 of a meeting waits until n succeeded or is exhausted.
    Meeting,
    /// Messages are independent.
    None,
}

impl From<Ordering> for OrderingView {
    fn from(o: Ordering) -> Self {
        match o {
            Ordering::Meeting => Self::Meeting,
            Ordering::None => Self::None,
        }
    }
}

/// A signature scheme: `standard` (Standard Webhooks' `webhook-signature`, HMAC with the
/// endpoint's secret) or `videosdk` (`videosdk-signature`, RSA-SHA256 with the project's key).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignatureSchemeView {
    Standard,
    Videosdk,
}

impl From<SignatureScheme> for SignatureSchemeView {
    fn from(scheme: SignatureScheme) -> Self {
        match scheme {
            SignatureScheme::Standard => Self::Standard,
            SignatureScheme::Videosdk => Self::Videosdk,
        }
    }
}

/// Who owns an endpoint.
#[derive(Serialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EndpointKind {
    /// Created with `POST /v1/endpoints`; receives events of every meeting it subscribes to.
    Account,
    /// A room's own webhook, set with `POST /v2/rooms`; receives that room's events only.
    Room,
}

impl EndpointKind {
    pub(super) const VALUES: &'static str = "account, room";

    pub(super) fn parse(text: &str) -> Option<Self> {
        match text {
            "account" => Some(Self::Account),
            "room" => Some(Self::Room),
            _ => None,
        }
    }

    pub(super) fn of(endpoint: &Endpoint) -> Self {
        match endpoint.room_id {
            Some(_) => Self::Room,
            None => Self::Account,
        }
    }
}

/// What a write-only value reads as.
const HIDDEN: &str = "…";

/// The URL as shown on reads: its user name and password are write-only and read as `…@`
/// (the stored URL keeps them, sealed, and deliveries use them).
pub(crate) fn redact_url(url: &str) -> String {
    crate::domain::url_credentials::redact(url)
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointView {
    id: String,
    /// `room` for a room's own webhook, which `POST /v2/rooms` changes; `account` otherwise.
    kind: EndpointKind,
    /// The room whose webhook this is; `null` for an account endpoint.
    room_id: Option<String>,
    /// Its user name and password, if any, read as `…@` (write-only).
    url: String,
    description: String,
    events: Vec<String>,
    ordering: OrderingView,
    rate_limit: Option<u32>,
    /// Names of the custom headers; their values are write-only and read as `"…"`.
    headers: BTreeMap<String, String>,
    retry_schedule: Option<Vec<f64>>,
    timeout_seconds: Option<u64>,
    /// The signatures each request carries.
    signatures: Vec<SignatureSchemeView>,
    disabled: bool,
    disabled_reason: Option<String>,
    last_success_at: Option<String>,
    created_at: String,
    updated_at: String,
    /// Only in the answers to create and rotate.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl EndpointView {
    /// The endpoint as listed and read: without its secret.
    pub(super) fn of(e: Endpoint) -> Self {
        EndpointView {
            secret: None,
            kind: EndpointKind::of(&e),
            room_id: e.room_id,
            id: e.id,
            url: redact_url(&e.url),
            description: e.description,
            events: e.events.patterns().to_vec(),
            ordering: e.ordering.into(),
            rate_limit: e.rate_limit,
            headers: e
                .headers
                .into_keys()
                .map(|name| (name, HIDDEN.to_owned()))
                .collect(),
            retry_schedule: e
                .retry_schedule
                .map(|s| s.into_iter().map(|ms| ms as f64 / 1000.0).collect()),
            timeout_seconds: e.timeout_ms.map(|ms| ms / 1000),
            signatures: e.signatures.schemes().map(Into::into).collect(),
            disabled: e.disabled,
            disabled_reason: e.disabled_reason,
            last_success_at: e.last_success_at.map(Timestamp::to_rfc3339),
            created_at: e.created_at.to_rfc3339(),
            updated_at: e.updated_at.to_rfc3339(),
        }
    }

    /// The endpoint as created: the one answer that carries its secret.
    pub(super) fn with_secret(e: Endpoint) -> Self {
        let secret = e.secret.clone();
        EndpointView {
            secret: Some(secret),
            ..EndpointView::of(e)
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EndpointList {
    pub(super) data: Vec<EndpointView>,
}

#[derive(Serialize, ToSchema)]
pub struct SecretView {
    pub(super) secret: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotatedSecret {
    pub(super) secret: String,
    /// Until when the previous secret still signs.
    pub(super) previous_secret_valid_until: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestQueued {
    pub(super) message_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct Recovered {
    /// How many messages were re-queued.
    pub(super) requeued: usize,
}
