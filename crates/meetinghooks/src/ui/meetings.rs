//! Meetings: the project's rooms, and a room's sessions with links to their timelines.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::auth::Signed;
use super::error::UiError;
use super::layout::{self, Section};
use super::UiResult;
use crate::api::AppState;

const ROOMS: usize = 200;
const SESSIONS: usize = 50;

pub async fn rooms(State(state): State<AppState>, signed: Signed) -> UiResult<Response> {
    let rooms = state
        .store
        .room_summaries(&signed.project.id, ROOMS)
        .await?;
    let body = html! {
        h1 { "Meetings" }
        div.scroll {
            table #rooms {
                thead { tr { th { "Room" } th { "Created" } th { "Sessions" } } }
                tbody {
                    @for r in &rooms {
                        tr {
                            td { a href={ "/ui/meetings/" (r.room_id) } { (r.room_id) } }
                            td { (layout::time(r.created_at)) }
                            td.num { (r.sessions) }
                        }
                    }
                }
            }
        }
        @if rooms.is_empty() { p.muted { "No meetings yet." } }
    };
    Ok(layout::page(&signed, Section::Meetings, "Meetings", body).into_response())
}

pub async fn room(
    State(state): State<AppState>,
    signed: Signed,
    Path(room_id): Path<String>,
) -> UiResult<Response> {
    let project = &signed.project.id;
    let room = state
        .store
        .room(project, &room_id)
        .await?
        .ok_or(UiError::NotFound("meeting"))?;
    let sessions = state
        .store
        .sessions(project, &room_id, None, SESSIONS)
        .await?
        .items;
    let body = html! {
        p { a href="/ui/meetings" { "← Meetings" } }
        h1 { "Meeting " code { (room.room_id) } }
        p { "Created " (layout::time(room.created_at)) "." }
        @if let Some(webhook) = &room.webhook { p { "Room webhook: " code { (crate::api::endpoints::redact_url(&webhook.end_point)) } } }
        p { a href={ "/ui/messages?meeting=" (room.room_id) } { "Its messages" } }
        div.scroll {
            table #sessions {
                thead { tr { th { "Session" } th { "Start" } th { "End" } th { "Participants" } } }
                tbody {
                    @for s in &sessions {
                        tr {
                            td { a href={ "/ui/sessions/" (s.session.id) } { (s.session.id) } }
                            td { (layout::time(s.session.start)) }
                            td { @match s.session.end { Some(end) => (layout::time(end)), None => span.badge.pending { "ongoing" } } }
                            td.num { (s.participants.len()) }
                        }
                    }
                }
            }
        }
        @if sessions.is_empty() { p.muted { "No sessions yet." } }
    };
    Ok(layout::page(&signed, Section::Meetings, "Meeting", body).into_response())
}
