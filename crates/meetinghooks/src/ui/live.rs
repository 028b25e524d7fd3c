//! The live tail: new events and delivery attempts pushed as server-sent events. A stream
//! wakes on the store's change announcements (and a short poll, for other nodes' work), and
//! stays open while its session and key are valid (checked every 15 s); after a drop
//! or a restart the browser reconnects with `Last-Event-ID` and the stream resumes where it
//! was, so nothing is skipped.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use maud::html;
use serde_json::json;
use tokio::time::Instant;

use super::auth::Signed;
use super::layout::{self, Section};
use super::UiResult;
use crate::api::AppState;
use crate::domain::timestamp::Timestamp;
use crate::store::dashboard::{AttemptLogQuery, LogHeads};
use crate::store::EventQuery;

/// How often a stream checks that its session and key still hold, as each page load does.
const SESSION_CHECK: Duration = Duration::from_secs(15);
/// How often a stream looks for work without an announcement.
const POLL: Duration = Duration::from_secs(2);
const BATCH: usize = 100;

pub async fn page(signed: Signed) -> UiResult<Response> {
    let body = html! {
        h1 { "Live" }
        p { "Events and delivery attempts as they happen. " span.badge.waiting #live-status role="status" { "connecting…" } }
        div #live data-stream="/ui/live/stream" {
            h2 { "Events" }
            div.scroll { table #live-events { thead { tr { th { "Time" } th { "Meeting" } th { "#" } th { "Type" } } } tbody {} } }
            h2 { "Deliveries" }
            div.scroll { table #live-deliveries { thead { tr { th { "Time" } th { "Type" } th { "Endpoint" } th { "Result" } th { "Duration" } } } tbody {} } }
        }
    };
    Ok(layout::page(&signed, Section::Live, "Live", body).into_response())
}

/// `<event position>-<attempt id>`: the cursor a reconnect sends back.
fn cursor_id(heads: LogHeads) -> String {
    format!("{}-{}", heads.event_position, heads.attempt_id)
}

fn parse_cursor(text: &str) -> Option<LogHeads> {
    let (e, a) = text.split_once('-')?;
    Some(LogHeads {
        event_position: e.parse().ok().filter(|v: &i64| *v >= 0)?,
        attempt_id: a.parse().ok().filter(|v: &i64| *v >= 0)?,
    })
}

struct Tail {
    state: AppState,
    project_id: String,
    heads: LogHeads,
    signed: Signed,
    check_at: Instant,
    due: tokio::sync::watch::Receiver<u64>,
    queued: std::collections::VecDeque<Event>,
}

impl Tail {
    /// Whether the session is still signed in with a key that was not revoked.
    async fn still_signed(&mut self) -> bool {
        if Instant::now() < self.check_at {
            return true;
        }
        self.check_at = Instant::now() + SESSION_CHECK;
        let Some(session) = self.signed.sessions.get(&self.signed.session_id) else {
            return false;
        };
        // A store error is not a sign-out: the next check decides.
        !matches!(
            self.state.store.key_by_hash(session.key_hash).await,
            Ok(None)
        )
    }

    /// Reads what is new since the cursor into the queue.
    async fn read(&mut self) {
        let events = self
            .state
            .store
            .events(
                &self.project_id,
                EventQuery {
                    after: Some(self.heads.event_position),
                    limit: BATCH,
                    ..Default::default()
                },
            )
            .await;
        if let Ok(page) = events {
            for e in page.items {
                self.heads.event_position = e.position;
                let data = json!({
                    "id": e.id, "meeting": e.meeting_id, "sequence": e.sequence,
                    "type": e.webhook_type, "at": e.created_at.to_rfc3339(),
                });
                self.queued.push_back(
                    Event::default()
                        .event("event")
                        .id(cursor_id(self.heads))
                        .data(data.to_string()),
                );
            }
        }
        let attempts = self
            .state
            .store
            .attempt_log(
                &self.project_id,
                AttemptLogQuery {
                    since: Timestamp(0),
                    after_id: self.heads.attempt_id,
                    endpoint_id: None,
                    limit: BATCH,
                },
            )
            .await;
        if let Ok(attempts) = attempts {
            for a in attempts {
                self.heads.attempt_id = a.id;
                let result = match (a.status_code, &a.error_kind) {
                    (Some(code), _) => code.to_string(),
                    (None, Some(kind)) => kind.clone(),
                    (None, None) => "—".to_owned(),
                };
                let data = json!({
                    "message": a.message_id, "type": a.webhook_type, "endpoint": a.endpoint_id,
                    "ok": a.succeeded(), "result": result, "durationMs": a.duration_ms,
                    "at": a.attempted_at.to_rfc3339(),
                });
                self.queued.push_back(
                    Event::default()
                        .event("delivery")
                        .id(cursor_id(self.heads))
                        .data(data.to_string()),
                );
            }
        }
    }
}

pub async fn stream(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
) -> UiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_cursor);
    let heads = match resumed {
        Some(heads) => heads,
        None => state.store.log_heads(&signed.project.id).await?,
    };
    let due = state.store.changes().due;
    let tail = Tail {
        project_id: signed.project.id.clone(),
        state,
        heads,
        signed,
        check_at: Instant::now() + SESSION_CHECK,
        due,
        queued: Default::default(),
    };
    // The first message tells the browser to reconnect quickly and where it stands.
    let hello = Event::default()
        .event("ready")
        .retry(Duration::from_millis(500))
        .id(cursor_id(heads))
        .data("{}");
    let tail_stream = stream::unfold(tail, |mut tail| async move {
        loop {
            if let Some(event) = tail.queued.pop_front() {
                return Some((Ok(event), tail));
            }
            // Signed out, expired or revoked: end; the browser's retry meets the sign-in.
            if !tail.still_signed().await {
                return None;
            }
            tail.read().await;
            if !tail.queued.is_empty() {
                continue;
            }
            tokio::select! {
                changed = tail.due.changed() => {
                    // The store is gone (shutting down): end, the browser retries.
                    if changed.is_err() {
                        return None;
                    }
                }
                () = tokio::time::sleep(POLL) => {}
            }
        }
    });
    let all = stream::StreamExt::chain(stream::iter([Ok(hello)]), tail_stream);
    Ok(Sse::new(all).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_the_round_trip() {
        let heads = LogHeads {
            event_position: 42,
            attempt_id: 7,
        };
        assert_eq!(parse_cursor(&cursor_id(heads)), Some(heads));
        assert_eq!(parse_cursor("42"), None);
        assert_eq!(parse_cursor("-1-2"), None);
        assert_eq!(parse_cursor("x-2"), None);
    }
}
