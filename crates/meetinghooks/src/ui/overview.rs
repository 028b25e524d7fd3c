//! The overview: deliveries per minute and success rate over the last hour and day, queue
//! depth, failing and disabled endpoints, exhausted messages.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::auth::Signed;
use super::charts;
use super::layout::{self, Section};
use super::stats::{buckets, percent_text, Health, Window};
use super::UiResult;
use crate::api::AppState;
use crate::domain::timestamp::Timestamp;
use crate::store::dashboard::AttemptLogQuery;
use crate::store::MessageStatus;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
/// The most attempts a day's chart reads; a busier project's day chart is cut (and says so).
const DAY_LIMIT: usize = 200_000;

pub async fn page(State(state): State<AppState>, signed: Signed) -> UiResult<Response> {
    let project = &signed.project.id;
    let now = Timestamp::now();
    let log = state
        .store
        .attempt_log(
            project,
            AttemptLogQuery {
                since: Timestamp(now.0 - 24 * HOUR),
                after_id: 0,
                endpoint_id: None,
                limit: DAY_LIMIT,
            },
        )
        .await?;
    let queue = state.store.project_queue(project).await?;
    let count = |wanted: &[MessageStatus]| -> u64 {
        queue
            .iter()
            .filter(|(s, _)| wanted.contains(s))
            .map(|(_, n)| n)
            .sum()
    };
    let depth = count(&[
        MessageStatus::Waiting,
        MessageStatus::Pending,
        MessageStatus::Delivering,
    ]);
    let exhausted = count(&[MessageStatus::Exhausted]);
    let endpoints = state.store.endpoints(project).await?;
    let failing: Vec<_> = endpoints
        .iter()
        .filter(|e| !e.disabled && e.failing_since.is_some())
        .collect();
    let disabled: Vec<_> = endpoints.iter().filter(|e| e.disabled).collect();
    let hour_from = now.0 - HOUR;
    let last_hour = log.iter().filter(|a| a.attempted_at.0 >= hour_from);
    let hour_health = Health::of(last_hour.clone());
    let day_health = Health::of(&log);
    let per_minute = buckets(last_hour, Window::ending(now, MINUTE, 60));
    let per_hour = buckets(&log, Window::ending(now, HOUR, 24));
    let clock = |b: &super::stats::Bucket| {
        let t = b.start.to_rfc3339();
        t.get(11..16).unwrap_or_default().to_owned()
    };
    let body = html! {
        h1 { "Overview" }
        dl.figures {
            div { dt { "Queue depth" } dd #queue-depth { (depth) } }
            div { dt { "Exhausted messages" } dd #exhausted { a href="/ui/messages?status=exhausted" { (exhausted) } } }
            div { dt { "Failing endpoints" } dd #failing { (failing.len()) } }
            div { dt { "Disabled endpoints" } dd #disabled { (disabled.len()) } }
            div { dt { "Success rate, last hour" } dd #rate-hour { (percent_text(hour_health.success_percent())) } }
            div { dt { "Success rate, last day" } dd #rate-day { (percent_text(day_health.success_percent())) } }
        }
        @if log.len() >= DAY_LIMIT {
            p.muted { "The day chart shows the first " (DAY_LIMIT) " attempts of the last 24 hours." }
        }
        div.charts {
            (charts::bars("chart-hour", "Attempts per minute, last hour", &per_minute, clock, 10))
            (charts::bars("chart-day", "Attempts per hour, last day", &per_hour, clock, 4))
        }
        @if !failing.is_empty() || !disabled.is_empty() {
            h2 { "Endpoints that need a look" }
            ul.plain #attention {
                @for e in failing.iter().chain(disabled.iter()) {
                    li {
                        a href={ "/ui/endpoints/" (e.id) } { (crate::api::endpoints::redact_url(&e.url)) }
                        " "
                        @if e.disabled {
                            span.badge.failed { "disabled" }
                            @if let Some(reason) = &e.disabled_reason { " " span.muted { (reason) } }
                        } @else {
                            span.badge.exhausted { "failing" } " since " (layout::opt_time(e.failing_since))
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&signed, Section::Overview, "Overview", body).into_response())
}
