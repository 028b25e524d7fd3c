//! The dashboard's actions. Each calls the `/v1` handler that does the same through the API
//! (same checks, same store calls), then tells the outcome on the next page.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use maud::html;
use serde::Serialize;
use serde_json::{json, Value};

use super::auth::Signed;
use super::layout::{self, Section};
use super::session::FlashKind;
use crate::api::extract::{Caller, JsonBody};
use crate::api::{endpoints, messages, ApiError, AppState};
use crate::domain::timestamp::Timestamp;

type Fields = Form<HashMap<String, String>>;

/// A handler's JSON answer as a value, or its error's message.
fn answer<T: Serialize>(result: Result<Json<T>, ApiError>) -> Result<Value, String> {
    result
        .map(|Json(view)| serde_json::to_value(view).unwrap_or(Value::Null))
        .map_err(|e| e.message)
}

/// A form as the JSON body the handler takes; a malformed one is the handler's 400.
fn body<T: serde::de::DeserializeOwned>(value: Value) -> Result<JsonBody<T>, String> {
    serde_json::from_value(value)
        .map(JsonBody)
        .map_err(|e| format!("invalid input: {e}"))
}

/// Flashes the outcome and goes back to `to`.
fn done(signed: &Signed, outcome: Result<String, String>, to: &str) -> Response {
    match outcome {
        Ok(text) => signed.flash(FlashKind::Done, text),
        Err(text) => signed.flash(FlashKind::Failed, text),
    }
    Redirect::to(to).into_response()
}

fn caller(signed: &Signed) -> Caller {
    Caller(signed.project.clone())
}

fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    form.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// `a, b` → `["a","b"]`.
fn patterns(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

fn endpoint_page(id: &str) -> String {
    format!("/ui/endpoints/{id}")
}

pub async fn create_endpoint(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Fields,
) -> Response {
    let mut input = json!({ "url": field(&form, "url").unwrap_or_default() });
    if let Some(d) = field(&form, "description") {
        input["description"] = json!(d);
    }
    if let Some(events) = field(&form, "events") {
        input["events"] = json!(patterns(events));
    }
    let created = match body(input) {
        Ok(input) => endpoints::create(State(state), caller(&signed), input)
            .await
            .map(|(_, view)| view),
        Err(e) => return done(&signed, Err(e), "/ui/endpoints"),
    };
    match answer(created) {
        Ok(view) => {
            let id = view["id"].as_str().unwrap_or_default().to_owned();
            let secret = view["secret"].as_str().unwrap_or_default();
            done(
                &signed,
                Ok(format!("Endpoint created. Its signing secret: {secret}")),
                &endpoint_page(&id),
            )
        }
        Err(e) => done(&signed, Err(e), "/ui/endpoints"),
    }
}

pub async fn edit_endpoint(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Fields,
) -> Response {
    let mut input = json!({});
    if let Some(url) = edited_url(&form) {
        input["url"] = json!(url);
    }
    input["description"] = json!(form
        .get("description")
        .map(|d| d.trim())
        .unwrap_or_default());
    if let Some(events) = field(&form, "events") {
        input["events"] = json!(patterns(events));
    }
    patch(state, &signed, &id, input, "Saved.").await
}

/// The URL field when it was edited: the form shows the URL without its password, so
/// saving it unchanged must not write that shown form over the stored one.
fn edited_url(form: &HashMap<String, String>) -> Option<&str> {
    field(form, "url").filter(|url| Some(*url) != field(form, "shown_url"))
}

async fn patch(state: AppState, signed: &Signed, id: &str, input: Value, said: &str) -> Response {
    let outcome = match body(input) {
        Ok(input) => answer(
            endpoints::update(State(state), caller(signed), Path(id.to_owned()), input).await,
        )
        .map(|_| said.to_owned()),
        Err(e) => Err(e),
    };
    done(signed, outcome, &endpoint_page(id))
}

pub async fn set_enabled(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Fields,
) -> Response {
    let disabled = field(&form, "disabled") == Some("true");
    let said = if disabled { "Disabled." } else { "Enabled." };
    patch(state, &signed, &id, json!({ "disabled": disabled }), said).await
}

pub async fn delete_endpoint(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    match endpoints::delete(State(state), caller(&signed), Path(id.clone())).await {
        Ok(_) => done(
            &signed,
            Ok(format!("Endpoint {id} deleted.")),
            "/ui/endpoints",
        ),
        Err(e) => done(&signed, Err(e.message), &endpoint_page(&id)),
    }
}

/// A page that shows a secret once; it is never in a URL or a flash kept in the session.
fn secret_page(
    signed: &Signed,
    id: &str,
    heading: &str,
    secret: &str,
    note: Option<String>,
) -> Response {
    let body = html! {
        p { a href=(endpoint_page(id)) { "← Endpoint " (id) } }
        h1 { (heading) }
        p { "Signing secret of " code { (id) } ":" }
        pre.secret { code #secret { (secret) } }
        @if let Some(note) = note { p { (note) } }
    };
    layout::page(signed, Section::Endpoints, heading, body).into_response()
}

pub async fn reveal_secret(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    match answer(endpoints::secret(State(state), caller(&signed), Path(id.clone())).await) {
        Ok(view) => secret_page(
            &signed,
            &id,
            "Signing secret",
            view["secret"].as_str().unwrap_or_default(),
            None,
        ),
        Err(e) => done(&signed, Err(e), &endpoint_page(&id)),
    }
}

pub async fn rotate_secret(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    match answer(endpoints::rotate_secret(State(state), caller(&signed), Path(id.clone())).await) {
        Ok(view) => {
            let until = view["previousSecretValidUntil"]
                .as_str()
                .map(|u| format!("The previous secret keeps signing until {u}."));
            secret_page(
                &signed,
                &id,
                "Secret rotated",
                view["secret"].as_str().unwrap_or_default(),
                until,
            )
        }
        Err(e) => done(&signed, Err(e), &endpoint_page(&id)),
    }
}

pub async fn send_test(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Fields,
) -> Response {
    let input = json!({ "webhookType": field(&form, "webhook_type").unwrap_or_default() });
    let queued = match body(input) {
        Ok(input) => endpoints::send_test(State(state), caller(&signed), Path(id.clone()), input)
            .await
            .map(|(_, view)| view),
        Err(e) => return done(&signed, Err(e), &endpoint_page(&id)),
    };
    match answer(queued) {
        Ok(view) => {
            let message = view["messageId"].as_str().unwrap_or_default().to_owned();
            done(
                &signed,
                Ok("Test event queued.".into()),
                &format!("/ui/messages/{message}"),
            )
        }
        Err(e) => done(&signed, Err(e), &endpoint_page(&id)),
    }
}

/// `2026-11-29T15:04` (a `datetime-local` field, read as UTC) or a full RFC 3339 time.
fn since(text: &str) -> Option<String> {
    let full = if text.len() == 16 {
        format!("{text}:00Z")
    } else {
        text.to_owned()
    };
    Timestamp::parse_rfc3339(&full).map(|_| full)
}

pub async fn recover(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Fields,
) -> Response {
    let Some(since) = field(&form, "since").and_then(since) else {
        return done(
            &signed,
            Err("since must be a date and time".into()),
            &endpoint_page(&id),
        );
    };
    let outcome = match body(json!({ "since": since })) {
        Ok(input) => {
            answer(endpoints::recover(State(state), caller(&signed), Path(id.clone()), input).await)
                .map(|view| format!("Re-queued {} messages.", view["requeued"]))
        }
        Err(e) => Err(e),
    };
    done(&signed, outcome, &endpoint_page(&id))
}

pub async fn resend(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    let outcome = answer(messages::resend(State(state), caller(&signed), Path(id.clone())).await)
        .map(|view| match view["statusCode"].as_u64() {
            Some(code) => format!("Resent: the endpoint answered {code}."),
            None => format!(
                "Resent: {}.",
                view["errorKind"].as_str().unwrap_or("no answer")
            ),
        });
    done(&signed, outcome, &format!("/ui/messages/{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_time_is_read_as_utc() {
        assert_eq!(
            since("2026-11-29T15:04").as_deref(),
            Some("2026-11-29T15:04:00Z")
        );
        assert_eq!(
            since("2026-11-29T15:04:05+01:00").as_deref(),
            Some("2026-11-29T15:04:05+01:00")
        );
        assert_eq!(since("yesterday"), None);
    }

    #[test]
    fn an_unedited_url_is_not_written_back() {
        let form = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let shown = "https://user@example.com/a";
        assert_eq!(
            edited_url(&form(&[("url", shown), ("shown_url", shown)])),
            None
        );
        let new = "https://example.com/b";
        assert_eq!(
            edited_url(&form(&[("url", new), ("shown_url", shown)])),
            Some(new)
        );
        assert_eq!(edited_url(&form(&[("url", new)])), Some(new));
    }

    #[test]
    fn event_patterns_from_a_comma_list() {
        assert_eq!(patterns(" a , b,,"), vec!["a", "b"]);
    }
}
