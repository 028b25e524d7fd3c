//! A session's timeline: one lane per participant with their stays (a rejoin starts a new
//! stay), media lanes paired from `…-started`/`…-stopped` events whatever their names, and
//! every event on the time axis with its delivery state per endpoint, linking to the message.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::auth::Signed;
use super::error::UiError;
use super::layout::{self, Section};
use super::UiResult;
use crate::api::AppState;
use crate::domain::timestamp::Timestamp;
use crate::store::dashboard::MessageFilter;
use crate::store::{EventQuery, MessageRecord, MessageStatus, StoredEvent};

/// The most events and messages a timeline reads.
const MAX_ROWS: usize = 5_000;
const LABEL_W: f64 = 150.0;
const PLOT_W: f64 = 750.0;
const LANE_H: f64 = 30.0;

/// Where a message stands, as the timeline tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Delivery {
    Delivered,
    Skipped,
    Queued,
    Retrying,
    Failed,
}

impl Delivery {
    pub fn of(m: &MessageRecord) -> Delivery {
        match m.status {
            MessageStatus::Succeeded => Delivery::Delivered,
            MessageStatus::Failed | MessageStatus::Exhausted => Delivery::Failed,
            MessageStatus::Skipped => Delivery::Skipped,
            _ if m.attempts > 0 => Delivery::Retrying,
            _ => Delivery::Queued,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Delivered => "delivered",
            Delivery::Skipped => "skipped",
            Delivery::Queued => "queued",
            Delivery::Retrying => "retrying",
            Delivery::Failed => "failed",
        }
    }
}

/// Maps times of the session onto the plot.
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    pub from: Timestamp,
    pub to: Timestamp,
}

impl Axis {
    /// The x of a time, clamped to the plot.
    pub fn x(&self, t: Timestamp) -> f64 {
        let span = (self.to.0 - self.from.0).max(1) as f64;
        let share = ((t.0 - self.from.0) as f64 / span).clamp(0.0, 1.0);
        LABEL_W + share * PLOT_W
    }
}

/// One stretch of a media lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSpan {
    pub start: Timestamp,
    pub end: Option<Timestamp>,
}

/// Media lanes by name (`recording` from `recording-started`), in order of first use.
pub fn media_lanes(events: &[StoredEvent]) -> Vec<(String, Vec<MediaSpan>)> {
    let mut lanes: Vec<(String, Vec<MediaSpan>)> = Vec::new();
    for e in events {
        let (name, starts) = if let Some(n) = e.webhook_type.strip_suffix("-started") {
            (n, true)
        } else if let Some(n) = e.webhook_type.strip_suffix("-stopped") {
            (n, false)
        } else {
            continue;
        };
        // A session's own start and end are the axis, not a lane.
        if name == "session" {
            continue;
        }
        let index = match lanes.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                lanes.push((name.to_owned(), Vec::new()));
                lanes.len() - 1
            }
        };
        let spans = &mut lanes[index].1;
        match (starts, spans.last_mut()) {
            (true, _) => spans.push(MediaSpan {
                start: e.created_at,
                end: None,
            }),
            (false, Some(open)) if open.end.is_none() => open.end = Some(e.created_at),
            (false, _) => spans.push(MediaSpan {
                start: e.created_at,
                end: Some(e.created_at),
            }),
        }
    }
    lanes
}

pub async fn page(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> UiResult<Response> {
    let project = &signed.project.id;
    let record = state
        .store
        .session(project, &id)
        .await?
        .ok_or(UiError::NotFound("session"))?;
    let mut events = Vec::new();
    let mut after = None;
    loop {
        let page = state
            .store
            .events(
                project,
                EventQuery {
                    session_id: Some(id.clone()),
                    after,
                    limit: 500,
                    ..Default::default()
                },
            )
            .await?;
        events.extend(page.items);
        after = page.next_cursor;
        if after.is_none() || events.len() >= MAX_ROWS {
            break;
        }
    }
    let mut messages: HashMap<String, Vec<MessageRecord>> = HashMap::new();
    let mut after = None;
    let mut read = 0;
    loop {
        let page = state
            .store
            .filtered_messages(
                project,
                MessageFilter {
                    meeting_id: Some(record.room_id.clone()),
                    since: Some(Timestamp(
                        record
                            .session
                            .start
                            .0
                            .min(events.first().map_or(i64::MAX, |e| e.created_at.0)),
                    )),
                    after,
                    limit: 500,
                    ..Default::default()
                },
            )
            .await?;
        read += page.items.len();
        for m in page.items {
            messages.entry(m.event_id.clone()).or_default().push(m);
        }
        after = page.next_cursor;
        if after.is_none() || read >= MAX_ROWS {
            break;
        }
    }
    let session = &record.session;
    let last_event = events
        .iter()
        .map(|e| e.created_at)
        .max()
        .unwrap_or(session.latest);
    let to = session
        .end
        .unwrap_or_else(Timestamp::now)
        .max(last_event)
        .max(session.latest);
    let axis = Axis {
        from: session.start,
        to,
    };
    let media = media_lanes(&events);
    // One delivery lane per endpoint, in the order they first got a message.
    let mut endpoints: Vec<&str> = Vec::new();
    for e in &events {
        for m in messages.get(&e.id).into_iter().flatten() {
            if !endpoints.contains(&m.endpoint_id.as_str()) {
                endpoints.push(&m.endpoint_id);
            }
        }
    }
    let events_lane = record.participants.len() + media.len();
    let lanes = events_lane + 1 + endpoints.len();
    let height = (lanes as f64 + 1.0) * LANE_H;
    let width = LABEL_W + PLOT_W + 10.0;
    let body = html! {
        p { a href={ "/ui/meetings/" (record.room_id) } { "← Meeting " (record.room_id) } }
        h1 { "Session " code { (session.id) } }
        p {
            (layout::time(session.start)) " – "
            @match session.end { Some(end) => (layout::time(end)), None => span.badge.pending { "ongoing" } }
        }
        div.scroll {
            svg.timeline #timeline viewBox={ "0 0 " (width) " " (height) } role="img" aria-label="Session timeline" {
                @for (i, p) in record.participants.iter().enumerate() {
                    @let y = i as f64 * LANE_H;
                    g.lane.participant data-participant=(p.id) {
                        text.label x="4" y=(y + 19.0) { (p.name) }
                        @for (n, stay) in p.timelog.iter().enumerate() {
                            @let x0 = axis.x(stay.start);
                            @let x1 = axis.x(stay.end.unwrap_or(to));
                            rect.stay.rejoin[n > 0].open[stay.end.is_none()] x=(x0) y=(y + 6.0) width=((x1 - x0).max(2.0)) height=(LANE_H - 12.0) {
                                title { (p.name) ": " (if n > 0 { "rejoined " } else { "joined " }) (stay.start.to_rfc3339())
                                    " – " (stay.end.map_or_else(|| "present".to_owned(), Timestamp::to_rfc3339)) }
                            }
                        }
                    }
                }
                @for (i, (name, spans)) in media.iter().enumerate() {
                    @let y = (record.participants.len() + i) as f64 * LANE_H;
                    g.lane.media data-media=(name) {
                        text.label x="4" y=(y + 19.0) { (name) }
                        @for span in spans {
                            @let x0 = axis.x(span.start);
                            @let x1 = axis.x(span.end.unwrap_or(to));
                            rect.media-span x=(x0) y=(y + 8.0) width=((x1 - x0).max(2.0)) height=(LANE_H - 16.0) {}
                        }
                    }
                }
                @let y = events_lane as f64 * LANE_H;
                g.lane.events {
                    text.label x="4" y=(y + 19.0) { "events" }
                    @for e in &events {
                        @let ms = messages.get(&e.id).map(Vec::as_slice).unwrap_or_default();
                        @let worst = ms.iter().map(Delivery::of).max();
                        @let cls = worst.map_or("none", Delivery::as_str);
                        @let href = ms.first().map(|m| format!("/ui/messages/{}", m.id)).unwrap_or_else(|| "#events".to_owned());
                        a href=(href) data-event=(e.webhook_type) {
                            circle.marker.(cls) cx=(axis.x(e.created_at)) cy=(y + 15.0) r="6" {
                                title { "#" (e.sequence) " " (e.webhook_type) " · " (cls) }
                            }
                        }
                    }
                }
                @for (k, endpoint) in endpoints.iter().enumerate() {
                    @let y = (events_lane + 1 + k) as f64 * LANE_H;
                    g.lane.delivery data-endpoint=(endpoint) {
                        text.label x="4" y=(y + 19.0) { "→ " (endpoint.get(..11).unwrap_or(endpoint)) "…" title { (endpoint) } }
                        @for e in &events {
                            @for m in messages.get(&e.id).into_iter().flatten().filter(|m| m.endpoint_id == *endpoint) {
                                @let d = Delivery::of(m);
                                a href={ "/ui/messages/" (m.id) } data-delivery=(d.as_str()) {
                                    circle.marker.(d.as_str()) cx=(axis.x(e.created_at)) cy=(y + 15.0) r="5" {
                                        title { "#" (e.sequence) " " (e.webhook_type) " → " (endpoint) ": " (d.as_str()) }
                                    }
                                }
                            }
                        }
                    }
                }
                line.axis x1=(LABEL_W) y1=(height - LANE_H + 4.0) x2=(LABEL_W + PLOT_W) y2=(height - LANE_H + 4.0) {}
                text.tick x=(LABEL_W) y=(height - 8.0) { (clock(axis.from)) }
                text.tick.end x=(LABEL_W + PLOT_W) y=(height - 8.0) { (clock(axis.to)) }
            }
        }
        p.legend {
            span.key.delivered { "delivered" } " " span.key.retrying { "retrying" } " "
            span.key.failed { "failed" } " " span.key.queued { "queued" } " " span.key.skipped { "skipped" }
        }
        h2 #events { "Events and deliveries" }
        div.scroll {
            table #session-events {
                thead { tr { th { "#" } th { "Time" } th { "Type" } th { "Deliveries" } } }
                tbody {
                    @for e in &events {
                        tr data-event=(e.webhook_type) {
                            td.num { (e.sequence) }
                            td { (layout::precise_time(e.created_at)) }
                            td { (e.webhook_type) }
                            td { (deliveries(messages.get(&e.id).map(Vec::as_slice).unwrap_or_default())) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&signed, Section::Meetings, "Session", body).into_response())
}

fn deliveries(ms: &[MessageRecord]) -> Markup {
    html! {
        @if ms.is_empty() { span.muted { "no endpoint" } }
        @for m in ms {
            @let d = Delivery::of(m);
            a.badge.(d.as_str()) href={ "/ui/messages/" (m.id) } data-delivery=(d.as_str()) title=(m.endpoint_id) {
                (m.endpoint_id.get(..11).unwrap_or(&m.endpoint_id)) "…: " (d.as_str())
            }
            " "
        }
    }
}

/// `15:04:05.123`: sessions can be short.
fn clock(t: Timestamp) -> String {
    t.to_rfc3339().get(11..23).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(webhook_type: &str, at: i64) -> StoredEvent {
        StoredEvent {
            id: format!("evt_{at}"),
            position: at,
            meeting_id: "m".into(),
            session_id: "s".into(),
            sequence: at as u64,
            webhook_type: webhook_type.into(),
            payload: Vec::new(),
            created_at: Timestamp(at),
        }
    }

    #[test]
    fn media_lanes_pair_starts_and_stops_by_name() {
        let events = [
            event("session-started", 1),
            event("recording-started", 2),
            event("whiteboard-started", 3),
            event("recording-stopped", 4),
            event("recording-started", 5),
            event("participant-joined", 6),
        ];
        let lanes = media_lanes(&events);
        let names: Vec<&str> = lanes.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["recording", "whiteboard"]);
        assert_eq!(
            lanes[0].1,
            [
                MediaSpan {
                    start: Timestamp(2),
                    end: Some(Timestamp(4))
                },
                MediaSpan {
                    start: Timestamp(5),
                    end: None
                }
            ]
        );
    }

    #[test]
    fn the_axis_maps_the_session_onto_the_plot() {
        let axis = Axis {
            from: Timestamp(1_000),
            to: Timestamp(2_000),
        };
        assert_eq!(axis.x(Timestamp(1_000)), LABEL_W);
        assert_eq!(axis.x(Timestamp(1_500)), LABEL_W + PLOT_W / 2.0);
        assert_eq!(axis.x(Timestamp(9_000)), LABEL_W + PLOT_W);
    }

    #[test]
    fn the_worst_delivery_marks_an_event() {
        assert!(Delivery::Failed > Delivery::Retrying);
        assert!(Delivery::Retrying > Delivery::Delivered);
    }
}
