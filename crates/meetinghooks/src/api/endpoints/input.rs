//! The body of `POST` and `PATCH /v1/endpoints`: validation, and the `EndpointPatch` it makes.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use utoipa::{IntoParams, ToSchema};

use super::views::{EndpointKind, OrderingView, SignatureSchemeView};
use crate::api::error::ApiError;
use crate::api::target_url::check_target_url;
use crate::delivery::ssrf::SsrfPolicy;
use crate::domain::endpoint::{
    validate_header, Change, EnabledChange, EndpointPatch, Ordering, RESERVED_HEADERS,
};
use crate::domain::signatures::{SignatureScheme, Signatures};
use crate::domain::subscription::Subscription;
use crate::domain::timestamp::Timestamp;

const MAX_HEADERS: usize = 20;
const MAX_SCHEDULE: usize = 20;
const MAX_DELAY_SECS: f64 = 7.0 * 86_400.0;

/// Create and update share one input shape; on update every field is optional.
#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointInput {
    /// Absolute http(s) URL; required on create.
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 2048,
        // The grammar of `api::target_url` (a literal: utoipa takes no constant here).
        pattern = "^https?://([A-Za-z0-9._~-]+(:[A-Za-z0-9._~-]*)?@)?(((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])|((?![Xx][Nn]--)[A-Za-z0-9-]+\\.)*(?![Xx][Nn]--)[A-Za-z][A-Za-z0-9-]*)(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[A-Za-z0-9._~-]*)*(\\?[A-Za-z0-9._~=&-]*)?$"
    )]
    #[serde(default, deserialize_with = "present")]
    pub(super) url: Option<String>,
    #[schema(nullable = false, max_length = 1024)]
    #[serde(default, deserialize_with = "present")]
    pub(super) description: Option<String>,
    /// Webhook types or patterns; default `["*"]`.
    #[schema(nullable = false, value_type = Option<Vec<EventPattern>>, min_items = 1)]
    #[serde(default, deserialize_with = "present")]
    pub(super) events: Option<Vec<String>>,
    #[schema(nullable = false, value_type = Option<OrderingView>)]
    #[serde(default, deserialize_with = "present")]
    pub(super) ordering: Option<String>,
    /// Deliveries per second, 1-100000; `null` for none.
    #[serde(default)]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 100000)]
    pub(super) rate_limit: Nullable<WholeNumber<u32>>,
    /// At most 20 extra request headers; their values are write-only.
    #[schema(nullable = false, schema_with = custom_headers)]
    #[serde(default, deserialize_with = "present")]
    pub(super) headers: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub(super) disabled: Option<bool>,
    /// Seconds before each attempt, 1-20 delays of 0-604800; `null` restores the global
    /// schedule.
    #[serde(default)]
    #[schema(value_type = Option<Vec<RetryDelay>>, min_items = 1, max_items = 20)]
    pub(super) retry_schedule: Nullable<Vec<f64>>,
    /// 1-30; `null` restores the global timeout.
    #[serde(default)]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 30)]
    pub(super) timeout_seconds: Nullable<WholeNumber<u64>>,
    /// Which signatures each request carries: `standard` (`webhook-signature`), `videosdk`
    /// (`videosdk-signature`, RSA with the project's key) or both; default `["standard"]`.
    #[schema(nullable = false, value_type = Option<Vec<SignatureSchemeView>>, min_items = 1, max_items = 2)]
    #[serde(default, deserialize_with = "present")]
    pub(super) signatures: Option<Vec<SignatureScheme>>,
}

impl EndpointInput {
    /// Whether the input changes nothing but `disabled`: all a room's webhook allows here.
    pub(super) fn only_disabled(&self) -> bool {
        let EndpointInput {
            url,
            description,
            events,
            ordering,
            rate_limit,
            headers,
            disabled: _,
            retry_schedule,
            timeout_seconds,
            signatures,
        } = self;
        url.is_none()
            && description.is_none()
            && events.is_none()
            && ordering.is_none()
            && rate_limit.is_absent()
            && headers.is_none()
            && retry_schedule.is_absent()
            && timeout_seconds.is_absent()
            && signatures.is_none()
    }
}

/// A field that may be left out but not set to `null` (only the `Nullable` ones take `null`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A field of the body that may be left out, set to `null` (back to the global default) or
/// given a value.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Nullable<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Nullable<T> {
    fn is_absent(&self) -> bool {
        matches!(self, Nullable::Absent)
    }

    /// Left out keeps the stored setting; `null` clears it.
    fn into_change(self) -> Change<Option<T>> {
        match self {
            Nullable::Absent => Change::Keep,
            Nullable::Null => Change::Set(None),
            Nullable::Value(value) => Change::Set(Some(value)),
        }
    }
}

// Only called for a field that is present (`#[serde(default)]` makes a missing one `Absent`).
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Nullable<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            None => Nullable::Null,
            Some(value) => Nullable::Value(value),
        })
    }
}

/// An integer as JSON Schema defines it: `7` and `7.0` alike; a fraction or a value out of
/// the type's range is refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WholeNumber<T>(pub T);

impl<'de, T: TryFrom<u64>> Deserialize<'de> for WholeNumber<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let number = serde_json::Number::deserialize(d)?;
        let whole = number.as_u64().or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(f))
                .map(|f| f as u64)
        });
        whole
            .and_then(|n| T::try_from(n).ok())
            .map(WholeNumber)
            .ok_or_else(|| {
                serde::de::Error::custom(format!("{number} is not a whole number in range"))
            })
    }
}

/// Seconds before an attempt.
#[derive(ToSchema)]
#[schema(minimum = 0, maximum = 604800)]
#[allow(dead_code)]
pub struct RetryDelay(f64);

// Doc-only: `Subscription::parse` reads the patterns as text.
/// `*`, a webhook type, or a prefix of types ending in `-*`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum EventPattern {
    #[serde(rename = "*")]
    All,
    #[serde(rename = "participant-*")]
    Participant,
    #[serde(rename = "session-*")]
    Session,
    #[serde(rename = "recording-*")]
    Recording,
    #[serde(rename = "livestream-*")]
    Livestream,
    #[serde(rename = "hls-*")]
    Hls,
    #[serde(rename = "participant-recording-*")]
    ParticipantRecordingAll,
    #[serde(rename = "participant-track-recording-*")]
    ParticipantTrackRecordingAll,
    #[serde(rename = "participant-joined")]
    ParticipantJoined,
    #[serde(rename = "participant-left")]
    ParticipantLeft,
    #[serde(rename = "session-started")]
    SessionStarted,
    #[serde(rename = "session-ended")]
    SessionEnded,
    #[serde(rename = "recording-started")]
    RecordingStarted,
    #[serde(rename = "recording-stopped")]
    RecordingStopped,
    #[serde(rename = "livestream-started")]
    LivestreamStarted,
    #[serde(rename = "livestream-stopped")]
    LivestreamStopped,
    #[serde(rename = "hls-started")]
    HlsStarted,
    #[serde(rename = "hls-stopped")]
    HlsStopped,
    #[serde(rename = "recording-starting")]
    RecordingStarting,
    #[serde(rename = "recording-stopping")]
    RecordingStopping,
    #[serde(rename = "recording-failed")]
    RecordingFailed,
    #[serde(rename = "livestream-starting")]
    LivestreamStarting,
    #[serde(rename = "livestream-stopping")]
    LivestreamStopping,
    #[serde(rename = "livestream-failed")]
    LivestreamFailed,
    #[serde(rename = "hls-starting")]
    HlsStarting,
    #[serde(rename = "hls-playable")]
    HlsPlayable,
    #[serde(rename = "hls-stopping")]
    HlsStopping,
    #[serde(rename = "hls-failed")]
    HlsFailed,
    #[serde(rename = "participant-recording-starting")]
    ParticipantRecordingStarting,
    #[serde(rename = "participant-recording-started")]
    ParticipantRecordingStarted,
    #[serde(rename = "participant-recording-stopping")]
    ParticipantRecordingStopping,
    #[serde(rename = "participant-recording-stopped")]
    ParticipantRecordingStopped,
    #[serde(rename = "participant-recording-failed")]
    ParticipantRecordingFailed,
    #[serde(rename = "participant-track-recording-starting")]
    ParticipantTrackRecordingStarting,
    #[serde(rename = "participant-track-recording-started")]
    ParticipantTrackRecordingStarted,
    #[serde(rename = "participant-track-recording-stopping")]
    ParticipantTrackRecordingStopping,
    #[serde(rename = "participant-track-recording-stopped")]
    ParticipantTrackRecordingStopped,
    #[serde(rename = "participant-track-recording-failed")]
    ParticipantTrackRecordingFailed,
}

/// The custom headers' schema, exactly as `validate_header` checks them: at most 20, names
/// HTTP tokens of 1-128 characters but not the ones meetinghooks sets (in any case), values
/// of at most 4096 visible ASCII characters, spaces and tabs.
fn custom_headers() -> utoipa::openapi::Object {
    use utoipa::openapi::{ObjectBuilder, Type};
    let any_case = |word: &str| -> String {
        word.chars()
            .map(|c| match c {
                c if c.is_ascii_alphabetic() => {
                    format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                }
                '-' => "-".to_owned(),
                c => c.to_string(),
            })
            .collect()
    };
    let reserved: Vec<String> = RESERVED_HEADERS
        .iter()
        .map(|h| format!("{}$", any_case(h)))
        .chain(std::iter::once(any_case("webhook-")))
        .collect();
    let name = format!(
        "^(?!{})[!#$%&'*+.^_`|~0-9A-Za-z-]{{1,128}}$",
        reserved.join("|")
    );
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .max_properties(Some(MAX_HEADERS))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(name)),
        ))
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(4096))
                .pattern(Some("^[\\t\\x20-\\x7e]*$")),
        ))
        .build()
}

/// The body of `POST /v1/endpoints`, as documented: `url` is required there.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct EndpointCreate {
    /// Absolute http(s) URL. A literal address the SSRF guard blocks is a 422.
    #[schema(
        min_length = 1,
        max_length = 2048,
        // The grammar of `api::target_url` (a literal: utoipa takes no constant here).
        pattern = "^https?://([A-Za-z0-9._~-]+(:[A-Za-z0-9._~-]*)?@)?(((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])|((?![Xx][Nn]--)[A-Za-z0-9-]+\\.)*(?![Xx][Nn]--)[A-Za-z][A-Za-z0-9-]*)(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[A-Za-z0-9._~-]*)*(\\?[A-Za-z0-9._~=&-]*)?$"
    )]
    url: String,
    #[schema(nullable = false, max_length = 1024)]
    description: Option<String>,
    /// Webhook types or patterns; default `["*"]`.
    #[schema(nullable = false, min_items = 1)]
    events: Option<Vec<EventPattern>>,
    #[schema(nullable = false)]
    ordering: Option<OrderingView>,
    /// Deliveries per second, 1-100000; `null` for none.
    #[schema(minimum = 1, maximum = 100000)]
    rate_limit: Option<u32>,
    /// At most 20 extra request headers; their values are write-only.
    #[schema(nullable = false, schema_with = custom_headers)]
    headers: Option<BTreeMap<String, String>>,
    #[schema(nullable = false)]
    disabled: Option<bool>,
    /// Seconds before each attempt, 1-20 delays of 0-604800; `null` for the global schedule.
    #[schema(value_type = Option<Vec<RetryDelay>>, min_items = 1, max_items = 20)]
    retry_schedule: Option<Vec<f64>>,
    /// 1-30; `null` for the global timeout.
    #[schema(minimum = 1, maximum = 30)]
    timeout_seconds: Option<u64>,
    /// Which signatures each request carries; default `["standard"]`.
    #[schema(nullable = false, min_items = 1, max_items = 2)]
    signatures: Option<Vec<SignatureSchemeView>>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EndpointListQuery {
    /// `account` or `room`: only endpoints of that kind.
    #[param(value_type = Option<EndpointKind>)]
    pub(super) kind: Option<String>,
}

pub(super) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_request", message)
}

impl EndpointInput {
    /// Validates every given field and turns the input into the change it asks for.
    pub(super) fn into_patch(
        self,
        policy: &SsrfPolicy,
        now: Timestamp,
    ) -> Result<EndpointPatch, ApiError> {
        let mut patch = EndpointPatch::at(now);
        if let Some(url) = self.url {
            check_target_url("url", &url, policy)?;
            patch.url = Change::Set(url);
        }
        if let Some(description) = self.description {
            if description.chars().count() > 1024 || description.contains('\0') {
                return Err(invalid(
                    "description must be at most 1024 characters, without NUL",
                ));
            }
            patch.description = Change::Set(description);
        }
        if let Some(events) = self.events {
            patch.events = Change::Set(Subscription::parse(events).map_err(invalid)?);
        }
        if let Some(ordering) = self.ordering {
            patch.ordering = Change::Set(
                Ordering::parse(&ordering)
                    .ok_or_else(|| invalid("ordering must be \"meeting\" or \"none\""))?,
            );
        }
        if let Change::Set(rate_limit) = self.rate_limit.into_change() {
            let rate_limit = rate_limit.map(|r| r.0);
            if rate_limit.is_some_and(|r| !(1..=100_000).contains(&r)) {
                return Err(invalid("rateLimit must be 1-100000 per second"));
            }
            patch.rate_limit = Change::Set(rate_limit);
        }
        if let Some(headers) = self.headers {
            if headers.len() > MAX_HEADERS {
                return Err(invalid(format!("at most {MAX_HEADERS} headers")));
            }
            for (name, value) in &headers {
                validate_header(name, value).map_err(invalid)?;
            }
            patch.headers = Change::Set(headers);
        }
        if let Change::Set(schedule) = self.retry_schedule.into_change() {
            if let Some(delays) = &schedule {
                let valid = !delays.is_empty()
                    && delays.len() <= MAX_SCHEDULE
                    && delays
                        .iter()
                        .all(|d| d.is_finite() && (0.0..=MAX_DELAY_SECS).contains(d));
                if !valid {
                    return Err(invalid(
                        "retrySchedule must hold 1-20 delays of 0-604800 seconds",
                    ));
                }
            }
            patch.retry_schedule =
                Change::Set(schedule.map(|d| d.into_iter().map(|s| (s * 1000.0) as u64).collect()));
        }
        if let Change::Set(timeout) = self.timeout_seconds.into_change() {
            let timeout = timeout.map(|t| t.0);
            if timeout.is_some_and(|t| !(1..=30).contains(&t)) {
                return Err(invalid("timeoutSeconds must be 1-30"));
            }
            patch.timeout_ms = Change::Set(timeout.map(|t| t * 1000));
        }
        if let Some(signatures) = self.signatures {
            if signatures.len() > 2 {
                return Err(invalid("signatures names at most 2 schemes"));
            }
            patch.signatures = Change::Set(Signatures::try_from(signatures).map_err(invalid)?);
        }
        patch.enabled = match self.disabled {
            None => EnabledChange::Keep,
            Some(true) => EnabledChange::Disable,
            Some(false) => EnabledChange::Enable,
        };
        Ok(patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate_limit(body: &str) -> Nullable<WholeNumber<u32>> {
        serde_json::from_str::<EndpointInput>(body)
            .expect("valid body")
            .rate_limit
    }

    #[test]
    fn a_left_out_field_keeps_null_clears_a_value_sets() {
        assert_eq!(rate_limit("{}"), Nullable::Absent);
        assert_eq!(rate_limit(r#"{"rateLimit":null}"#), Nullable::Null);
        assert_eq!(
            rate_limit(r#"{"rateLimit":7}"#),
            Nullable::Value(WholeNumber(7))
        );
        assert_eq!(
            rate_limit(r#"{"rateLimit":1375.0}"#),
            Nullable::Value(WholeNumber(1375))
        );
        assert!(serde_json::from_str::<EndpointInput>(r#"{"rateLimit":1.5}"#).is_err());
        assert!(serde_json::from_str::<EndpointInput>(r#"{"rateLimit":-1}"#).is_err());
        assert_eq!(rate_limit("{}").into_change(), Change::Keep);
        assert_eq!(
            rate_limit(r#"{"rateLimit":null}"#).into_change(),
            Change::Set(None)
        );
        assert_eq!(
            rate_limit(r#"{"rateLimit":7}"#).into_change(),
            Change::Set(Some(WholeNumber(7)))
        );
        assert!(serde_json::from_str::<EndpointInput>(r#"{"rateLimit":"x"}"#).is_err());
        // Only the clearable fields take null.
        assert!(serde_json::from_str::<EndpointInput>(r#"{"headers":null}"#).is_err());
        assert!(serde_json::from_str::<EndpointInput>(r#"{"url":null}"#).is_err());
    }
}
