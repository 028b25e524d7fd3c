//! The page shell (navigation, sign-out, flash message) and the small pieces every page
//! uses: times, statuses, the hidden CSRF field.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
pub use maud::Markup;
use maud::{html, DOCTYPE};

use super::auth::Signed;
use super::guard::CSRF_FIELD;
use super::session::FlashKind;
use crate::domain::timestamp::Timestamp;
use crate::store::MessageStatus;

/// Which navigation entry is current.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Endpoints,
    Messages,
    Meetings,
    Live,
}

const NAV: [(Section, &str, &str); 5] = [
    (Section::Overview, "/ui", "Overview"),
    (Section::Endpoints, "/ui/endpoints", "Endpoints"),
    (Section::Messages, "/ui/messages", "Messages"),
    (Section::Meetings, "/ui/meetings", "Meetings"),
    (Section::Live, "/ui/live", "Live"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · meetinghooks" }
            link rel="stylesheet" href="/ui/assets/dashboard.css";
            script src="/ui/assets/dashboard.js" defer {}
        }
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" { (head(title)) body { (body) } }
    }
}

/// A signed-in page.
pub fn page(signed: &Signed, section: Section, title: &str, body: Markup) -> Markup {
    let flash = signed.take_flash();
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "meetinghooks" }
                    nav aria-label="Sections" {
                        @for (s, href, label) in NAV {
                            a href=(href) aria-current=[(s == section).then_some("page")] { (label) }
                        }
                    }
                    span.project title="Signed-in project" { (signed.project.name) }
                    form.sign-out method="post" action="/ui/sign-out" {
                        (csrf_field(signed))
                        button type="submit" { "Sign out" }
                    }
                }
                main #main {
                    @if let Some(flash) = flash {
                        p.flash.(match flash.kind { FlashKind::Done => "done", FlashKind::Failed => "failed" })
                            role="status" { (flash.text) }
                    }
                    (body)
                }
            }
        }
    }
}

pub fn csrf_field(signed: &Signed) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(signed.csrf); }
}

pub fn error_page(status: StatusCode, message: &str) -> Response {
    let body = bare(
        "Error",
        html! {
            main.sign-in {
                h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                p { (message) }
                p { a href="/ui" { "Back to the dashboard" } }
            }
        },
    );
    (status, body).into_response()
}

/// `2026-11-29 15:04:05` in UTC; the full RFC 3339 time in a tooltip.
pub fn time(t: Timestamp) -> Markup {
    let full = t.to_rfc3339();
    let short = full.get(..19).unwrap_or(&full).replace('T', " ");
    html! { time datetime=(full) title=(full) { (short) } }
}

/// `15:04:05.123`, for events close together; the full time in a tooltip.
pub fn precise_time(t: Timestamp) -> Markup {
    let full = t.to_rfc3339();
    html! { time datetime=(full) title=(full) { (full.get(11..23).unwrap_or(&full)) } }
}

pub fn opt_time(t: Option<Timestamp>) -> Markup {
    match t {
        Some(t) => time(t),
        None => html! { span.muted { "—" } },
    }
}

pub fn status_badge(status: MessageStatus) -> Markup {
    html! { span.badge.(status.as_str()) data-status=(status.as_str()) { (status.as_str()) } }
}
