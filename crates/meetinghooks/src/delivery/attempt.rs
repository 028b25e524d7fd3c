//! One delivery attempt: sign, POST, read at most 1 KiB back, and classify what happened.

use std::time::{Duration, Instant};

use meetinghooks_webhooks::{
    Webhook, HEADER_ID, HEADER_SEQUENCE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};

use super::ssrf::{is_ssrf_error, SsrfPolicy};
use crate::domain::endpoint::Endpoint;
use crate::domain::timestamp::Timestamp;
use crate::store::Leased;

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
    /// No HTTP answer; `kind` is one of the error kinds the attempt log names.
    NoAnswer { kind: &'static str, detail: String },
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

pub async fn send(
    client: &reqwest::Client,
    policy: &SsrfPolicy,
    endpoint: &Endpoint,
    leased: &Leased,
    timeout: Duration,
) -> Attempt {
    let started_at = Timestamp::now();
    let clock = Instant::now();
    let result = send_inner(client, policy, endpoint, leased, timeout, started_at).await;
    Attempt {
        started_at,
        duration: clock.elapsed(),
        result,
    }
}

async fn send_inner(
    client: &reqwest::Client,
    policy: &SsrfPolicy,
    endpoint: &Endpoint,
    leased: &Leased,
    timeout: Duration,
    now: Timestamp,
) -> Result {
    let url = match reqwest::Url::parse(&endpoint.url) {
        Ok(url) => url,
        Err(e) => return no_answer("invalid_url", e),
    };
    // reqwest skips the resolver for IP literals, so literals are checked here.
    if let Err(refused) = policy.check_url(&url) {
        return no_answer("ssrf_blocked", refused);
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
        .header(HEADER_SEQUENCE, leased.sequence.to_string());
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
        Err(e) => return classify_error(&e),
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

fn no_answer(kind: &'static str, detail: impl std::fmt::Display) -> Result {
    Result::NoAnswer {
        kind,
        detail: detail.to_string(),
    }
}

fn classify_error(error: &reqwest::Error) -> Result {
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
    no_answer(kind, chain)
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
