//! The message log with its filters and keyset paging (the API's cursors), and one
//! message: payload, the request headers as sent (secrets hidden), attempts, resend.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::auth::Signed;
use super::endpoints::outcome;
use super::error::UiError;
use super::layout::{self, csrf_field, Section};
use super::UiResult;
use crate::api::extract::{page_limit, QueryParams};
use crate::api::AppState;
use crate::delivery::attempt::USER_AGENT_VALUE;
use crate::domain::timestamp::Timestamp;
use crate::store::dashboard::MessageFilter;
use crate::store::MessageStatus;
use meetinghooks_webhooks::{
    HEADER_ATTEMPT, HEADER_ID, HEADER_SEQUENCE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};

const PAGE: usize = 50;

#[derive(Deserialize, Default)]
pub struct Filters {
    status: Option<String>,
    #[serde(rename = "type")]
    webhook_type: Option<String>,
    endpoint: Option<String>,
    meeting: Option<String>,
    /// `datetime-local` values, read as UTC.
    since: Option<String>,
    until: Option<String>,
    after: Option<String>,
    /// Page size, 1-500.
    limit: Option<usize>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn utc(text: &Option<String>) -> UiResult<Option<Timestamp>> {
    given(text)
        .map(|t| {
            let full = if t.len() == 16 {
                format!("{t}:00Z")
            } else {
                t.clone()
            };
            Timestamp::parse_rfc3339(&full)
                .ok_or_else(|| UiError::BadInput(format!("{t:?} is not a date and time")))
        })
        .transpose()
}

impl Filters {
    /// The filters as a query string, for the next page's link.
    fn query(&self, after: &str) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("status", &self.status),
            ("type", &self.webhook_type),
            ("endpoint", &self.endpoint),
            ("meeting", &self.meeting),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if let Some(v) = given(value) {
                q.append_pair(name, &v);
            }
        }
        if let Some(limit) = self.limit {
            q.append_pair("limit", &limit.to_string());
        }
        q.append_pair("after", after);
        q.finish()
    }
}

pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    QueryParams(filters): QueryParams<Filters>,
) -> UiResult<Response> {
    let ids = state.store.public_ids();
    let status = given(&filters.status)
        .map(|s| {
            MessageStatus::parse(&s)
                .ok_or_else(|| UiError::BadInput(format!("unknown status {s:?}")))
        })
        .transpose()?;
    let after = given(&filters.after)
        .map(|c| {
            ids.cursor_position(&c)
                .ok_or_else(|| UiError::BadInput("invalid cursor".into()))
        })
        .transpose()?;
    let page = state
        .store
        .filtered_messages(
            &signed.project.id,
            MessageFilter {
                endpoint_id: given(&filters.endpoint),
                meeting_id: given(&filters.meeting),
                status,
                webhook_type: given(&filters.webhook_type),
                since: utc(&filters.since)?,
                until: utc(&filters.until)?,
                after,
                limit: page_limit(filters.limit.or(Some(PAGE)))
                    .map_err(|e| UiError::BadInput(e.message))?,
            },
        )
        .await?;
    let endpoints = state.store.endpoints(&signed.project.id).await?;
    let value = |v: &Option<String>| given(v).unwrap_or_default();
    let body = html! {
        h1 { "Messages" }
        form.filters method="get" action="/ui/messages" {
            label { "Status "
                select name="status" {
                    option value="" { "any" }
                    @for s in MessageStatus::ALL {
                        option value=(s.as_str()) selected[status == Some(s)] { (s.as_str()) }
                    }
                }
            }
            label { "Event type " input type="text" name="type" value=(value(&filters.webhook_type)); }
            label { "Endpoint "
                select name="endpoint" {
                    option value="" { "any" }
                    @for e in &endpoints {
                        option value=(e.id) selected[given(&filters.endpoint).as_deref() == Some(e.id.as_str())] { (e.id) }
                    }
                }
            }
            label { "Meeting " input type="text" name="meeting" value=(value(&filters.meeting)); }
            label { "Since (UTC) " input type="datetime-local" name="since" value=(value(&filters.since)); }
            label { "Until (UTC) " input type="datetime-local" name="until" value=(value(&filters.until)); }
            button type="submit" { "Filter" }
        }
        div.scroll {
            table #messages {
                thead { tr {
                    th { "Created" } th { "Type" } th { "Meeting" } th { "Endpoint" }
                    th { "Status" } th { "Attempts" } th { "Last result" }
                } }
                tbody {
                    @for m in &page.items {
                        tr data-message=(m.id) {
                            td { a href={ "/ui/messages/" (m.id) } { (layout::time(m.created_at)) } }
                            td { (m.webhook_type) }
                            td { a href={ "/ui/meetings/" (m.meeting_id) } { (m.meeting_id) } }
                            td { a href={ "/ui/endpoints/" (m.endpoint_id) } { (m.endpoint_id) } }
                            td { (layout::status_badge(m.status)) }
                            td.num { (m.attempts) }
                            td { (outcome(m.last_status_code, m.last_error_kind.as_deref())) }
                        }
                    }
                }
            }
        }
        @if page.items.is_empty() { p.muted { "No messages match." } }
        @if let Some(next) = page.next_cursor {
            p { a #next-page href={ "/ui/messages?" (filters.query(&ids.cursor(next))) } { "Next page →" } }
        }
    };
    Ok(layout::page(&signed, Section::Messages, "Messages", body).into_response())
}

/// The payload indented, its keys in the order they were sent; bytes that are not JSON as
/// they are.
fn pretty(payload: &[u8]) -> String {
    if serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_err() {
        return String::from_utf8_lossy(payload).into_owned();
    }
    let text = String::from_utf8_lossy(payload);
    let mut out = String::with_capacity(text.len() * 2);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // An empty object or array stays on its line.
                if matches!(chars.peek(), Some('}' | ']')) {
                    out.push(chars.next().unwrap_or(c));
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

pub async fn detail(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> UiResult<Response> {
    let project = &signed.project.id;
    let m = state
        .store
        .message(project, &id)
        .await?
        .ok_or(UiError::NotFound("message"))?;
    let event = state.store.event_by_id(project, &m.event_id).await?;
    let endpoint = state.store.endpoint(project, &m.endpoint_id).await?;
    let attempts = state.store.attempts(project, &id, None, 500).await?.items;
    let headers = endpoint
        .as_ref()
        .map(|e| e.headers.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    let body = html! {
        p { a href="/ui/messages" { "← Messages" } }
        h1 { "Message " code { (m.id) } }
        dl.props {
            dt { "Status" } dd #message-status { (layout::status_badge(m.status)) }
            dt { "Type" } dd { (m.webhook_type) }
            dt { "Meeting" } dd { a href={ "/ui/meetings/" (m.meeting_id) } { (m.meeting_id) } }
            dt { "Endpoint" } dd { a href={ "/ui/endpoints/" (m.endpoint_id) } { (m.endpoint_id) } }
            dt { "Attempts" } dd #message-attempts { (m.attempts) }
            @if m.status == MessageStatus::Pending { dt { "Next attempt" } dd { (layout::time(m.due_at)) } }
            @if let Some(error) = &m.last_error { dt { "Last error" } dd { (error) } }
        }
        form method="post" action={ "/ui/messages/" (m.id) "/resend" } {
            (csrf_field(&signed))
            button #resend type="submit" { "Resend now" }
        }
        h2 { "Payload" }
        @match &event {
            Some(e) => pre.payload { code #payload { (pretty(&e.payload)) } },
            None => p.muted { "The event is no longer stored." },
        }
        h2 { "Request headers" }
        (request_headers(&m.id, m.sequence, attempts.last().map(|a| a.attempted_at), m.attempts, &headers))
        h2 { "Attempts" }
        @if attempts.is_empty() { p.muted { "No attempt yet." } }
        ol.timeline #attempt-timeline {
            @for a in &attempts {
                li.(if a.status_code.is_some_and(|c| (200..300).contains(&c)) { "ok" } else { "fail" }) {
                    div.when { (layout::time(a.attempted_at)) " · " (a.duration_ms) " ms · " (outcome(a.status_code, a.error_kind.as_deref())) }
                    @if !a.response_body.is_empty() {
                        pre.answer { code { (a.response_body) } }
                    }
                }
            }
        }
    };
    Ok(layout::page(&signed, Section::Messages, "Message", body).into_response())
}

/// The headers every attempt sends; the signature and custom header values stay hidden.
fn request_headers(
    id: &str,
    sequence: u64,
    last: Option<Timestamp>,
    attempts: u32,
    custom: &[String],
) -> Markup {
    let timestamp = last.map_or_else(
        || "(the attempt's time, in seconds)".to_owned(),
        |t| (t.0 / 1000).to_string(),
    );
    html! {
        pre.headers { code #request-headers {
            "content-type: application/json\n"
            "user-agent: " (USER_AGENT_VALUE) "\n"
            (HEADER_ID) ": " (id) "\n"
            (HEADER_TIMESTAMP) ": " (timestamp) "\n"
            (HEADER_SIGNATURE) ": v1,… (hidden)\n"
            (HEADER_SEQUENCE) ": " (sequence) "\n"
            (HEADER_ATTEMPT) ": " (attempts.max(1)) "\n"
            @for name in custom { (name) ": … (hidden)\n" }
        } }
    }
}

#[cfg(test)]
mod tests {
    use super::pretty;

    #[test]
    fn the_payload_keeps_its_key_order() {
        let sent = br#"{"webhookType":"x","data":{"name":"a, b: {c}","list":[1,[]],"e":{}}}"#;
        assert_eq!(
            pretty(sent),
            "{\n  \"webhookType\": \"x\",\n  \"data\": {\n    \"name\": \"a, b: {c}\",\n    \"list\": [\n      1,\n      []\n    ],\n    \"e\": {}\n  }\n}"
        );
        assert_eq!(pretty(b"not json"), "not json");
    }
}
