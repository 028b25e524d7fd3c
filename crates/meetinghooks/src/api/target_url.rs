//! The URL grammar the OpenAPI document states for webhook targets and HLS rewrites (as a
//! `pattern` on each URL field) and the handlers enforce ([`matches`]), so that generated valid URLs are
//! accepted and every other string refused: `http(s)://`, optional `user[:password]@`, a DNS
//! name or a dotted IPv4 address, an optional port, a path and a query of unreserved
//! characters. (No IPv6 literal, percent-escape or `xn--` label: those the handlers refuse.)

use axum::http::StatusCode;

use crate::api::error::ApiError;
use crate::delivery::ssrf::{SsrfPolicy, UrlRefused};
use crate::domain::signal::MAX_URL_LEN;

/// The create-time check every webhook target goes through (endpoints and rooms' own
/// webhooks): an absolute http(s) URL of at most 2048 characters (else 400), not at a literal
/// address the SSRF guard blocks (else 422; names are checked again when resolved), in the
/// grammar the document states ([`matches`], else 400).
pub(crate) fn check_target_url(
    field: &str,
    url: &str,
    policy: &SsrfPolicy,
) -> Result<(), ApiError> {
    let parsed = url::Url::parse(url)
        .ok()
        .filter(|_| url.len() <= MAX_URL_LEN)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_request",
                format!("{field} must be an absolute http(s) URL of at most 2048 characters"),
            )
        })?;
    match policy.check_url(&parsed) {
        Ok(()) => {}
        Err(UrlRefused::Blocked(blocked)) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "ssrf_blocked",
                format!("{field}: {blocked}"),
            ))
        }
        Err(other) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("{field}: {other}"),
            ))
        }
    }
    if !matches(url) {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("{field} {}", REFUSED),
        ));
    }
    Ok(())
}

/// Why a URL outside the grammar is refused, after the field's name.
pub const REFUSED: &str = "must be http(s)://[user[:password]@]host[:port][/path][?query] with \
    a DNS name or dotted IPv4 address, and letters, digits and -._~ (=& in the query) only";

fn unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-')
}

/// Whether `url` is in the grammar of [`PATTERN`].
pub fn matches(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return false;
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host_port = match authority.split_once('@') {
        Some((userinfo, host_port)) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            if user.is_empty() || !user.chars().all(unreserved) || !password.chars().all(unreserved)
            {
                return false;
            }
            host_port
        }
        None => authority,
    };
    let (host, port) = match host_port.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (host_port, None),
    };
    (is_ipv4(host) || is_name(host)) && port.is_none_or(is_port) && is_path_and_query(tail)
}

/// Four decimal octets 0-255 without leading zeros.
fn is_ipv4(host: &str) -> bool {
    let octets: Vec<&str> = host.split('.').collect();
    octets.len() == 4
        && octets.iter().all(|o| {
            !o.is_empty()
                && o.len() <= 3
                && o.bytes().all(|b| b.is_ascii_digit())
                && (o.len() == 1 || !o.starts_with('0'))
                && o.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

/// Labels of letters, digits and `-`, none starting `xn--`; the last starts with a letter.
fn is_name(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    let last = labels[labels.len() - 1];
    labels.iter().all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label
                .get(..4)
                .is_some_and(|start| start.eq_ignore_ascii_case("xn--"))
    }) && last.starts_with(|c: char| c.is_ascii_alphabetic())
}

/// 1-65535 without leading zeros.
fn is_port(port: &str) -> bool {
    !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && !port.starts_with('0')
        && port.parse::<u32>().is_ok_and(|n| n <= 65_535)
}

/// `(/segment)*` then an optional `?query`.
fn is_path_and_query(tail: &str) -> bool {
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    (path.is_empty() || (path.starts_with('/') && path.chars().all(|c| c == '/' || unreserved(c))))
        && query.is_none_or(|q| q.chars().all(|c| unreserved(c) || c == '=' || c == '&'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grammar as an ECMA-262 pattern, exactly as each URL field of the document states it.
    const PATTERN: &str = concat!(
    "^https?://([A-Za-z0-9._~-]+(:[A-Za-z0-9._~-]*)?@)?",
    "(((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    "|((?![Xx][Nn]--)[A-Za-z0-9-]+\\.)*(?![Xx][Nn]--)[A-Za-z][A-Za-z0-9-]*)",
    "(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?",
    "(/[A-Za-z0-9._~-]*)*(\\?[A-Za-z0-9._~=&-]*)?$"
);

    /// Every `pattern` in the document, under the name of the schema it is in.
    fn patterns(value: &serde_json::Value, schema: &str, found: &mut Vec<(String, String)>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("pattern", serde_json::Value::String(p)) => {
                            found.push((schema.to_owned(), p.clone()))
                        }
                        _ if schema.is_empty() || schema == "schemas" => {
                            patterns(value, key, found)
                        }
                        _ => patterns(value, schema, found),
                    }
                }
            }
            serde_json::Value::Array(items) => {
                items.iter().for_each(|v| patterns(v, schema, found))
            }
            _ => {}
        }
    }

    #[test]
    fn every_webhook_url_field_of_the_document_states_this_grammar() {
        let document = <crate::api::openapi::ApiDoc as utoipa::OpenApi>::openapi();
        let mut found = Vec::new();
        let components = serde_json::to_value(&document).unwrap()["components"].clone();
        patterns(&components, "", &mut found);
        let mut stating: Vec<String> = found
            .iter()
            .filter(|(_, p)| p == PATTERN)
            .map(|(schema, _)| schema.clone())
            .collect();
        stating.sort();
        // Create and update an endpoint, a room's webhook, an HLS rewrite's from and to.
        assert_eq!(
            stating,
            [
                "EndpointCreate",
                "EndpointInput",
                "RewriteInput",
                "RewriteInput",
                "WebhookInput"
            ]
        );
    }

    #[test]
    fn the_grammar_takes_what_webhook_urls_look_like() {
        for url in [
            "https://hooks.example.com",
            "https://hooks.example.com/",
            "http://a/b//c/",
            "https://user:pa55@hooks.example.com/x?y=1&z=",
            "https://ghp_TOKEN@h.example.com/h",
            "http://u:@h.example.com",
            "http://127.0.0.1:65535/hooks",
            "http://169.254.169.254/latest/meta-data",
            "http://0.0.0.0",
            "https://h.example.com:8443/a.b~c_d-e?",
            "http://xn-a.example.com",
            "http://localhost:1",
            "http://a-.b-c",
            "https://1h.example.com/",
        ] {
            assert!(matches(url), "{url}");
            let parsed = url::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert!(parsed.host_str().is_some(), "{url}");
        }
    }

    #[test]
    fn the_grammar_refuses_the_rest() {
        for url in [
            "",
            "ftp://h.example.com",
            "HTTP://h.example.com",
            "https://",
            "https://h.example.com:0",
            "https://h.example.com:65536",
            "https://h.example.com:080",
            "https://h.example.com:",
            "https://[::1]/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://1.2.3/",
            "http://256.1.1.1/",
            "http://01.1.1.1/",
            "http://h..example.com",
            "http://.h.example.com",
            "http://h.example.com.",
            "http://xn--abc.example.com",
            "http://a.XN--abc",
            "http://h.example.com/a b",
            "http://h.example.com/%20",
            "http://h.example.com#frag",
            "http://h.example.com/?a=b#c",
            "http://h.example.com/?a?b",
            "http://@h.example.com",
            "http://:p@h.example.com",
            "http://u:p:q@h.example.com",
            "http://u@v@h.example.com",
            "http://h_x.example.com",
            "http://h.example.com\\x",
            // The last label starts with a letter (a number there reads as an address).
            "https://h.1com/",
        ] {
            assert!(!matches(url), "{url}");
        }
    }
}
