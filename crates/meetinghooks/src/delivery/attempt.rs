//! One delivery attempt: sign, POST, read at most 1 KiB back, and classify what happened.

use std::time::{Duration, Instant};

use meetinghooks_webhooks::{
    Webhook, HEADER_ATTEMPT, HEADER_ID, HEADER_SEQUENCE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};

use super::ssrf::{is_ssrf_error, SsrfPolicy};
use crate::domain::endpoint::Endpoint;
use crate::domain::timestamp::Timestamp;
use crate::store::{Failure, Leased, StoreResult};
use crate::videosdk::VideosdkSigner;
use std::sync::Arc;

pub const USER_AGENT_VALUE: &str = concat!("meetinghooks/", env!("CARGO_PKG_VERSION"));
const MAX_RESPONSE_BYTES: usize = 1024;

/// How an attempt ended, before the retry schedule is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Result {
    /// The endpoint answered; `retry_after` is set for 429 and 503 that carry the header.
    Answered {
        status: u16,
        body: String,
        retry_after: Option<Duration>,
    },
    /// No HTTP answer; `kind` is one of the error kinds the attempt log names, `detail` the
    /// whole error chain and `reason` its gist, e.g. `connect: connection refused`.
    NoAnswer {
        kind: &'static str,
        detail: String,
        reason: String,
    },
}

/// The kind `lastErrorKind` names for a non-2xx answer.
pub const HTTP_KIND: &str = "http";

impl Result {
    /// Why the attempt failed, in a few words; `None` for a 2xx answer.
    pub fn failure(&self) -> Option<Failure> {
        match self {
            Result::Answered { status, .. } if (200..300).contains(status) => None,
            Result::Answered { status, .. } => Some(Failure {
                kind: HTTP_KIND,
                reason: format!("http {status}"),
            }),
            Result::NoAnswer { kind, reason, .. } => Some(Failure {
                kind,
                reason: reason.clone(),
            }),
        }
    }
}

#[derive(Debug)]
pub struct Attempt {
    pub started_at: Timestamp,
    pub duration: Duration,
    pub result: Result,
}

/// `v1,<sig>` for every secret in force, separated by spaces.
pub fn signature_header(
    endpoint: &Endpoint,
    message_id: &str,
    timestamp: i64,
    body: &[u8],
    now: Timestamp,
) -> String {
    endpoint
        .signing_secrets(now)
        .into_iter()
        .filter_map(|secret| Webhook::new(secret).ok())
        .map(|webhook| webhook.sign(message_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where an attempt goes and what signs it beyond the endpoint's secrets.
pub struct Target<'a> {
    pub endpoint: &'a Endpoint,
    /// The project's RSA key when the endpoint wants `videosdk-signature`; an error when it
    /// could not be had (the attempt then fails as `signing` and is retried).
    pub videosdk: StoreResult<Option<Arc<VideosdkSigner>>>,
}

impl<'a> Target<'a> {
    pub fn new(endpoint: &'a Endpoint, videosdk: StoreResult<Option<Arc<VideosdkSigner>>>) -> Self {
        Target { endpoint, videosdk }
    }
}

pub async fn send(
    client: &reqwest::Client,
    policy: &SsrfPolicy,
    target: &Target<'_>,
    leased: &Leased,
    timeout: Duration,
) -> Attempt {
    let started_at = Timestamp::now();
    let clock = Instant::now();
    let result = send_inner(client, policy, target, leased, timeout, started_at).await;
    Attempt {
        started_at,
        duration: clock.elapsed(),
        result,
    }
}

async fn send_inner(
    client: &reqwest::Client,
    policy: &SsrfPolicy,
    target: &Target<'_>,
    leased: &Leased,
    timeout: Duration,
    now: Timestamp,
) -> Result {
    let endpoint = target.endpoint;
    let videosdk = match &target.videosdk {
        Ok(signer) => signer.as_ref().map(|signer| signer.sign(&leased.payload)),
        Err(e) => {
            let reason = format!("signing: no RSA key: {e}");
            return no_answer("signing", e, reason);
        }
    };
    let url = match reqwest::Url::parse(&endpoint.url) {
        Ok(url) => url,
        Err(e) => {
            let reason = format!("invalid_url: {e}");
            return no_answer("invalid_url", e, reason);
        }
    };
    // reqwest skips the resolver for IP literals, so literals are checked here.
    if let Err(refused) = policy.check_url(&url) {
        return no_answer("ssrf_blocked", &refused, format!("ssrf_blocked: {refused}"));
    }
    let timestamp = now.0.div_euclid(1000);
    let signature = signature_header(
        endpoint,
        &leased.message_id,
        timestamp,
        &leased.payload,
        now,
    );
    let mut request = client
        .post(url)
        .timeout(timeout)
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, USER_AGENT_VALUE)
        .header(HEADER_ID, &leased.message_id)
        .header(HEADER_TIMESTAMP, timestamp.to_string())
        .header(HEADER_SIGNATURE, signature)
        .header(HEADER_SEQUENCE, leased.sequence.to_string())
        .header(HEADER_ATTEMPT, (leased.attempts + 1).to_string());
    if let Some(signature) = videosdk {
        request = request.header(crate::videosdk::HEADER, signature);
    }
    for (name, value) in &endpoint.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            request = request.header(name, value);
        }
    }
    let response = match request.body(leased.payload.clone()).send().await {
        Ok(response) => response,
        Err(e) => return classify_error(e, timeout),
    };
    let status = response.status().as_u16();
    let retry_after = match status {
        429 | 503 => response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| super::schedule::parse_retry_after(v, now)),
        _ => None,
    };
    let body = read_prefix(response).await;
    Result::Answered {
        status,
        body,
        retry_after,
    }
}

/// The first 1 KiB of the body; the rest is never read, so a huge answer costs nothing.
async fn read_prefix(mut response: reqwest::Response) -> String {
    let mut buffer = Vec::new();
    while buffer.len() < MAX_RESPONSE_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => buffer.extend_from_slice(&chunk),
            _ => break,
        }
    }
    buffer.truncate(MAX_RESPONSE_BYTES);
    // Stored as text, where PostgreSQL refuses NUL: the attempt log shows it as U+FFFD.
    String::from_utf8_lossy(&buffer).replace('\0', "\u{FFFD}")
}

fn no_answer(kind: &'static str, detail: impl std::fmt::Display, reason: String) -> Result {
    Result::NoAnswer {
        kind,
        detail: detail.to_string(),
        reason,
    }
}

fn classify_error(error: reqwest::Error, timeout: Duration) -> Result {
    let host = error.url().and_then(|u| u.host_str()).map(str::to_owned);
    // reqwest's message ends with the URL, whose query may carry a token, and the attempt
    // log is read through the API: the error is kept without it.
    let error = &error.without_url();
    let chain = error_chain(error);
    let kind = if is_ssrf_error(error) {
        "ssrf_blocked"
    } else if error.is_timeout() {
        "timeout"
    } else if chain.contains("dns error") || chain.contains("failed to lookup") {
        "dns"
    } else if chain.contains("certificate") || chain.contains("tls") || chain.contains("TLS") {
        "tls"
    } else if error.is_connect() {
        "connect"
    } else {
        "invalid_response"
    };
    let gist = match kind {
        "timeout" if error.is_connect() => "could not connect in time".to_owned(),
        "timeout" => format!("no answer within {}", seconds(timeout)),
        _ => innermost(error),
    };
    let gist = match (kind, host.as_deref()) {
        // The resolver's own error does not say which name failed.
        ("dns", Some(host)) if !gist.contains(host) => format!("{gist} ({host})"),
        _ => gist,
    };
    no_answer(kind, chain, format!("{kind}: {gist}"))
}

/// `15 s`, or `1500 ms` when not a whole number of seconds.
fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

/// The deepest cause, which says what happened (`connection refused`) where the outer
/// layers only say where (`error sending request for url …`).
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest = error;
    while let Some(inner) = deepest.source() {
        deepest = inner;
    }
    let text = deepest.to_string();
    // `Connection refused (os error 111)`: the number adds nothing for a reader.
    let text = match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "unknown error".to_owned(),
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_seconds_when_whole() {
        assert_eq!(seconds(Duration::from_secs(15)), "15 s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1500 ms");
    }

    #[test]
    fn the_innermost_cause_is_the_gist_without_the_os_error_number() {
        let io = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        assert_eq!(innermost(&io), "connection refused");
    }

    #[test]
    fn only_a_2xx_answer_is_no_failure() {
        let answered = |status| Result::Answered {
            status,
            body: String::new(),
            retry_after: None,
        };
        assert_eq!(answered(204).failure(), None);
        let failure = answered(500).failure().unwrap();
        assert_eq!(
            (failure.kind, failure.reason.as_str()),
            ("http", "http 500")
        );
    }

    #[tokio::test]
    async fn an_unresolvable_name_is_a_dns_failure_naming_the_host() {
        let policy = std::sync::Arc::new(SsrfPolicy::default());
        let client = super::super::ssrf::client_builder(policy.clone())
            .build()
            .unwrap();
        let error = client
            .post("http://hooks.example.invalid/hooks?token=s3cret")
            .send()
            .await
            .unwrap_err();
        let Result::NoAnswer {
            kind,
            reason,
            detail,
        } = classify_error(error, Duration::from_secs(15))
        else {
            panic!("no answer expected")
        };
        assert_eq!(kind, "dns", "{reason}");
        assert!(reason.starts_with("dns: "), "{reason}");
        assert!(reason.contains("hooks.example.invalid"), "{reason}");
        // The attempt log is read through the API: no URL in it (its query may hold a token).
        assert!(
            !detail.contains("s3cret") && !reason.contains("s3cret"),
            "{detail}"
        );
    }
}
