//! Endpoint pages: the list with health, and one endpoint with its settings, actions and
//! recent attempts.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::auth::Signed;
use super::error::UiError;
use super::layout::{self, csrf_field, Section};
use super::stats::{percent_text, Health};
use super::UiResult;
use crate::api::endpoints::redact_url;
use crate::api::AppState;
use crate::domain::endpoint::Endpoint;
use crate::domain::timestamp::Timestamp;
use crate::store::dashboard::{AttemptLogEntry, AttemptLogQuery};

const DAY: i64 = 24 * 3600 * 1000;
/// The most attempts health is computed from.
const HEALTH_LIMIT: usize = 100_000;

async fn recent_attempts(
    state: &AppState,
    project_id: &str,
    endpoint_id: Option<String>,
) -> UiResult<Vec<AttemptLogEntry>> {
    Ok(state
        .store
        .attempt_log(
            project_id,
            AttemptLogQuery {
                since: Timestamp(Timestamp::now().0 - DAY),
                after_id: 0,
                endpoint_id,
                limit: HEALTH_LIMIT,
            },
        )
        .await?)
}

fn ms(v: Option<u64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v} ms"))
}

fn state_badge(e: &Endpoint) -> Markup {
    html! {
        @if e.disabled {
            span.badge.failed data-state="disabled" { "disabled" }
        } @else if e.failing_since.is_some() {
            span.badge.exhausted data-state="failing" { "failing" }
        } @else {
            span.badge.succeeded data-state="healthy" { "enabled" }
        }
    }
}

pub async fn list(State(state): State<AppState>, signed: Signed) -> UiResult<Response> {
    let project = &signed.project.id;
    let endpoints = state.store.endpoints(project).await?;
    let log = recent_attempts(&state, project, None).await?;
    let mut by_endpoint: HashMap<&str, Vec<&AttemptLogEntry>> = HashMap::new();
    for a in &log {
        by_endpoint
            .entry(a.endpoint_id.as_str())
            .or_default()
            .push(a);
    }
    let body = html! {
        h1 { "Endpoints" }
        p.muted { "Health over the last 24 hours." }
        div.scroll {
            table #endpoints {
                thead { tr {
                    th { "URL" } th { "State" } th { "Last success" } th { "Failing since" }
                    th { "Success" } th { "p50" } th { "p99" }
                } }
                tbody {
                    @for e in &endpoints {
                        @let health = Health::of(by_endpoint.get(e.id.as_str()).into_iter().flatten().copied());
                        tr data-endpoint=(e.id) {
                            td {
                                a href={ "/ui/endpoints/" (e.id) } { (redact_url(&e.url)) }
                                @if let Some(room) = &e.room_id { br; span.muted { "webhook of room " (room) } }
                            }
                            td { (state_badge(e)) }
                            td { (layout::opt_time(e.last_success_at)) }
                            td { (layout::opt_time(e.failing_since)) }
                            td.num { (percent_text(health.success_percent())) }
                            td.num { (ms(health.p50_ms)) }
                            td.num { (ms(health.p99_ms)) }
                        }
                    }
                }
            }
        }
        @if endpoints.is_empty() { p.muted { "No endpoints yet." } }
        h2 { "New endpoint" }
        form.stack method="post" action="/ui/endpoints" {
            (csrf_field(&signed))
            label for="new-url" { "URL" }
            input #new-url type="url" name="url" required placeholder="https://example.com/hooks";
            label for="new-description" { "Description" }
            input #new-description type="text" name="description";
            label for="new-events" { "Events (comma-separated types or patterns)" }
            input #new-events type="text" name="events" value="*";
            button type="submit" { "Create endpoint" }
        }
    };
    Ok(layout::page(&signed, Section::Endpoints, "Endpoints", body).into_response())
}

pub async fn detail(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> UiResult<Response> {
    let project = &signed.project.id;
    let e = state
        .store
        .endpoint(project, &id)
        .await?
        .ok_or(UiError::NotFound("endpoint"))?;
    let log = recent_attempts(&state, project, Some(id.clone())).await?;
    let health = Health::of(&log);
    // Types this project has sent, offered for the test send; the catalog is the server's.
    let types: BTreeSet<&str> = log.iter().map(|a| a.webhook_type.as_str()).collect();
    let account = e.room_id.is_none();
    let path = format!("/ui/endpoints/{}", e.id);
    let events = e.events.patterns().join(", ");
    let body = html! {
        p { a href="/ui/endpoints" { "← Endpoints" } }
        h1 { "Endpoint " code { (e.id) } }
        dl.props {
            dt { "URL" } dd #endpoint-url { (redact_url(&e.url)) }
            dt { "State" } dd { (state_badge(&e)) @if let Some(r) = &e.disabled_reason { " " span.muted { (r) } } }
            dt { "Events" } dd { (events) }
            @if let Some(room) = &e.room_id { dt { "Room" } dd { a href={ "/ui/meetings/" (room) } { (room) } } }
            dt { "Description" } dd { (e.description) }
            dt { "Last success" } dd { (layout::opt_time(e.last_success_at)) }
            dt { "Failing since" } dd { (layout::opt_time(e.failing_since)) }
            dt { "Success, 24 h" } dd #endpoint-success { (percent_text(health.success_percent())) " of " (health.attempts) }
            dt { "Latency p50 / p99" } dd { (ms(health.p50_ms)) " / " (ms(health.p99_ms)) }
            dt { "Custom headers" } dd { @for name in e.headers.keys() { code { (name) ": …" } " " } }
        }
        div.actions {
            form method="post" action={ (path) "/enabled" } {
                (csrf_field(&signed))
                input type="hidden" name="disabled" value=(if e.disabled { "false" } else { "true" });
                button #toggle-enabled type="submit" { (if e.disabled { "Enable" } else { "Disable" }) }
            }
            form method="post" action={ (path) "/secret" } data-confirm="Show this endpoint's signing secret?" {
                (csrf_field(&signed))
                button #reveal-secret type="submit" { "Reveal secret" }
            }
            @if account {
                form method="post" action={ (path) "/rotate" } data-confirm="Rotate the signing secret? The old one keeps signing for its overlap." {
                    (csrf_field(&signed))
                    button #rotate-secret type="submit" { "Rotate secret" }
                }
                form method="post" action={ (path) "/delete" } data-confirm="Delete this endpoint with its messages?" {
                    (csrf_field(&signed))
                    button.danger #delete-endpoint type="submit" { "Delete" }
                }
            }
        }
        div.columns {
            form.stack method="post" action={ (path) "/test" } {
                h2 { "Send a test event" }
                (csrf_field(&signed))
                label for="test-type" { "Webhook type" }
                input #test-type type="text" name="webhook_type" required list="known-types" placeholder="participant-joined";
                datalist #known-types { @for t in &types { option value=(t) {} } }
                button type="submit" { "Send test event" }
            }
            form.stack method="post" action={ (path) "/recover" } {
                h2 { "Recover" }
                (csrf_field(&signed))
                label for="recover-since" { "Re-queue failed, exhausted and skipped messages since (UTC)" }
                input #recover-since type="datetime-local" name="since" required;
                button type="submit" { "Recover" }
            }
        }
        @if account {
            form.stack method="post" action=(path) {
                h2 { "Edit" }
                (csrf_field(&signed))
                label for="edit-url" { "URL" }
                input #edit-url type="url" name="url" value=(redact_url(&e.url));
                // A password in the URL is never shown; the URL changes only when edited.
                input type="hidden" name="shown_url" value=(redact_url(&e.url));
                label for="edit-description" { "Description" }
                input #edit-description type="text" name="description" value=(e.description);
                label for="edit-events" { "Events" }
                input #edit-events type="text" name="events" value=(events);
                button type="submit" { "Save" }
            }
        }
        h2 { "Recent attempts" }
        (attempt_table(log.iter().rev().take(50)))
    };
    Ok(layout::page(&signed, Section::Endpoints, "Endpoint", body).into_response())
}

pub fn attempt_table<'a>(attempts: impl Iterator<Item = &'a AttemptLogEntry>) -> Markup {
    html! {
        div.scroll {
            table #attempts {
                thead { tr { th { "When" } th { "Type" } th { "Meeting" } th { "Result" } th { "Duration" } th { "Message" } } }
                tbody {
                    @for a in attempts {
                        tr data-ok=(a.succeeded()) {
                            td { (layout::time(a.attempted_at)) }
                            td { (a.webhook_type) }
                            td { (a.meeting_id) }
                            td { (outcome(a.status_code, a.error_kind.as_deref())) }
                            td.num { (a.duration_ms) " ms" }
                            td { a href={ "/ui/messages/" (a.message_id) } { (a.message_id) } }
                        }
                    }
                }
            }
        }
    }
}

/// `200`, `http 500`, or the error kind.
pub fn outcome(status: Option<u16>, error_kind: Option<&str>) -> Markup {
    match (status, error_kind) {
        (Some(code), _) if (200..300).contains(&code) => html! { span.badge.succeeded { (code) } },
        (Some(code), _) => html! { span.badge.failed { "http " (code) } },
        (None, Some(kind)) => html! { span.badge.failed { (kind) } },
        (None, None) => html! { span.muted { "—" } },
    }
}
