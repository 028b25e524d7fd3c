//! The dashboard's server side through real HTTP, on either store: the session cookie's
//! flags, the CSRF check on every POST, escaping of what signals and receivers sent, the
//! Content-Security-Policy, and that a session sees only its own project.

use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{redirect, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::receiver::{Receiver, Reply};

const XSS_NAME: &str = "<img src=x onerror=alert(1)>";
const XSS_ANSWER: &str = "<script>alert(2)</script>";

/// A browser's view of the dashboard: its session cookie and the page's CSRF token.
pub(crate) struct Browser {
    client: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

/// A `application/x-www-form-urlencoded` body, as a browser posts a form.
fn form(request: reqwest::RequestBuilder, fields: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    request
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

async fn sign_in_answer(app: &TestApp, key: &str, tls: bool) -> reqwest::Response {
    let mut request = form(
        no_redirects().post(app.url("/ui/sign-in")),
        &[("api_key", key)],
    );
    if tls {
        request = request.header("x-forwarded-proto", "https");
    }
    request.send().await.unwrap()
}

fn csrf_of(page: &str) -> String {
    let at = page.find(r#"name="csrf" value=""#).expect("a CSRF field") + 19;
    page[at..at + 64].to_owned()
}

impl Browser {
    pub(crate) async fn sign_in(app: &TestApp, key: &str) -> Browser {
        let answer = sign_in_answer(app, key, false).await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        let set = answer.headers()[SET_COOKIE].to_str().unwrap();
        let cookie = set.split(';').next().unwrap().to_owned();
        let mut browser = Browser {
            client: no_redirects(),
            base: app.url(""),
            cookie,
            csrf: String::new(),
        };
        let page = browser.page("/ui").await;
        browser.csrf = csrf_of(&page);
        browser
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn page(&self, path: &str) -> String {
        let answer = self.get(path).await;
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
        answer.text().await.unwrap()
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie);
        form(request, fields).send().await.unwrap()
    }
}

async fn secret(app: &TestApp, id: &str) -> String {
    let answer: Value = app
        .get(&format!("/v1/endpoints/{id}/secret"))
        .await
        .json()
        .await
        .unwrap();
    answer["secret"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie_that_expires() {
    let app = TestApp::spawn().await;
    let answer = no_redirects().get(app.url("/ui")).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(answer.headers()[LOCATION], "/ui/sign-in");

    // Another site's form cannot sign this browser in, even with a good key.
    let foreign = form(
        no_redirects()
            .post(app.url("/ui/sign-in"))
            .header("origin", "https://evil.example"),
        &[("api_key", KEY)],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert!(foreign.headers().get(SET_COOKIE).is_none());

    let refused = sign_in_answer(&app, "not-a-key-0123456789", false).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.headers().get(SET_COOKIE).is_none());

    let answer = sign_in_answer(&app, KEY, false).await;
    assert_eq!(answer.headers()[LOCATION], "/ui");
    let cookie = answer.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    let flags: Vec<&str> = cookie.split("; ").skip(1).collect();
    assert!(flags.contains(&"HttpOnly"), "{cookie}");
    assert!(flags.contains(&"SameSite=Strict"), "{cookie}");
    assert!(flags.contains(&"Path=/ui"), "{cookie}");
    assert!(flags.iter().any(|f| f.starts_with("Max-Age=")), "{cookie}");
    assert!(!flags.contains(&"Secure"), "plain HTTP: {cookie}");
    assert!(!cookie.contains(KEY));
    // Behind a TLS-terminating proxy the cookie is Secure.
    let tls = sign_in_answer(&app, KEY, true).await;
    let cookie = tls.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.split("; ").any(|f| f == "Secure"), "{cookie}");

    let browser = Browser::sign_in(&app, KEY).await;
    let page = browser.page("/ui").await;
    assert!(page.contains("Overview") && !page.contains(KEY));
    let out = browser
        .post("/ui/sign-out", &[("csrf", &browser.csrf)])
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(out.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let after = browser.get("/ui").await;
    assert_eq!(
        after.headers()[LOCATION],
        "/ui/sign-in",
        "the session is gone"
    );
}

#[tokio::test]
async fn every_page_forbids_inline_scripts() {
    let app = TestApp::spawn().await;
    let browser = Browser::sign_in(&app, KEY).await;
    for path in [
        "/ui/sign-in",
        "/ui",
        "/ui/endpoints",
        "/ui/messages",
        "/ui/meetings",
        "/ui/live",
        "/ui/assets/dashboard.js",
    ] {
        let answer = browser.get(path).await;
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
        let csp = answer.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        let body = answer.text().await.unwrap();
        if path.ends_with(".js") {
            continue;
        }
        // Scripts only by src, and no event-handler attributes.
        for tag in body.split("<script").skip(1) {
            let head = &tag[..tag.find('>').unwrap()];
            assert!(head.contains("src=\"/ui/assets/"), "{path}: inline script");
        }
        assert!(
            !body.contains(" onclick=") && !body.contains(" onload="),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_post_without_the_sessions_csrf_token_is_refused() {
    let app = TestApp::spawn().await;
    let endpoint = app
        .endpoint(json!({"url": "https://example.com/hooks"}))
        .await;
    let id = endpoint["id"].as_str().unwrap();
    let path = format!("/ui/endpoints/{id}/rotate");
    let browser = Browser::sign_in(&app, KEY).await;
    let other = Browser::sign_in(&app, KEY).await;
    assert_ne!(browser.csrf, other.csrf, "a token per session");
    for fields in [
        vec![],
        vec![("csrf", other.csrf.as_str())],
        vec![("csrf", "")],
    ] {
        let answer = browser.post(&path, &fields).await;
        assert_error(answer, StatusCode::FORBIDDEN, "csrf_refused").await;
    }
    // Without a session at all.
    let anonymous = form(
        no_redirects().post(app.url(&path)),
        &[("csrf", browser.csrf.as_str())],
    )
    .send()
    .await
    .unwrap();
    assert_error(anonymous, StatusCode::FORBIDDEN, "csrf_refused").await;
    assert_eq!(secret(&app, id).await, endpoint["secret"].as_str().unwrap());

    let rotated = browser.post(&path, &[("csrf", &browser.csrf)]).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let page = rotated.text().await.unwrap();
    let new = secret(&app, id).await;
    assert_ne!(new, endpoint["secret"].as_str().unwrap());
    assert!(page.contains(&new), "the new secret is shown once");
}

#[tokio::test]
async fn what_signals_and_receivers_sent_is_escaped() {
    let receiver = Receiver::start(|_, _| Reply::Body(500, XSS_ANSWER.as_bytes().to_vec())).await;
    let app = TestApp::delivering().await;
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/hooks"), "retrySchedule": [1]}))
        .await;
    let signal = json!({"id": "x-1", "type": "participant.joined", "meetingId": "xss-room",
        "participantId": "mallory", "participantName": XSS_NAME});
    assert_eq!(
        app.signals(json!([signal])).await.status(),
        StatusCode::ACCEPTED
    );
    let messages = app
        .wait_messages(endpoint["id"].as_str().unwrap(), |ms| {
            ms.iter().all(|m| m["attempts"].as_u64() >= Some(1))
        })
        .await;
    let browser = Browser::sign_in(&app, KEY).await;
    let session_id = app.events("xss-room").await[0]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let timeline = browser.page(&format!("/ui/sessions/{session_id}")).await;
    assert!(
        timeline.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{timeline}"
    );
    assert!(!timeline.contains("<img"));
    let joined = messages
        .iter()
        .find(|m| m["webhookType"] == "participant-joined")
        .unwrap();
    let page = browser
        .page(&format!("/ui/messages/{}", joined["id"].as_str().unwrap()))
        .await;
    assert!(
        page.contains("&lt;script&gt;alert(2)&lt;/script&gt;"),
        "{page}"
    );
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "the payload too"
    );
    assert!(!page.contains("<script>alert") && !page.contains("<img"));
}

#[tokio::test]
async fn another_projects_session_sees_none_of_it() {
    let app = TestApp::spawn().await;
    let endpoint = app
        .endpoint(json!({"url": "https://example.com/hooks"}))
        .await;
    let id = endpoint["id"].as_str().unwrap();
    let signal = json!({"id": "p-1", "type": "participant.joined", "meetingId": "private-room",
        "participantId": "p", "participantName": "Private Person"});
    assert_eq!(
        app.signals(json!([signal])).await.status(),
        StatusCode::ACCEPTED
    );
    let message = app.messages(id).await[0]["id"].as_str().unwrap().to_owned();
    let session = app.events("private-room").await[0]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();

    let other_key = app.create_project_with_cli("other");
    let other_key = other_key.as_str();
    let ours = Browser::sign_in(&app, KEY).await;
    let theirs = Browser::sign_in(&app, other_key).await;
    // Each list page shows ours to us and nothing of it to them.
    for (path, needle) in [
        ("/ui/endpoints", id),
        ("/ui/messages", message.as_str()),
        ("/ui/meetings", "private-room"),
    ] {
        assert!(ours.page(path).await.contains(needle), "{path}");
        assert!(!theirs.page(path).await.contains(needle), "{path}");
    }
    for path in [
        format!("/ui/endpoints/{id}"),
        format!("/ui/messages/{message}"),
        "/ui/meetings/private-room".to_owned(),
        format!("/ui/sessions/{session}"),
    ] {
        assert_eq!(ours.get(&path).await.status(), StatusCode::OK, "{path}");
        assert_eq!(
            theirs.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    // Their valid token does not reach our endpoint either.
    let rotate = theirs
        .post(
            &format!("/ui/endpoints/{id}/rotate"),
            &[("csrf", &theirs.csrf)],
        )
        .await;
    assert_eq!(rotate.status(), StatusCode::SEE_OTHER);
    assert!(theirs.page("/ui").await.contains("endpoint not found"));
    assert_eq!(secret(&app, id).await, endpoint["secret"].as_str().unwrap());
}

/// Reads a server-sent event stream until `done` holds for what arrived, or fails.
async fn read_stream(mut answer: reqwest::Response, done: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + TEST_DEADLINE;
    while !done(&text) {
        let chunk = tokio::time::timeout_at(deadline, answer.chunk())
            .await
            .unwrap_or_else(|_| panic!("the stream never brought it: {text}"))
            .unwrap();
        match chunk {
            Some(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
            None => panic!("the stream ended: {text}"),
        }
    }
    text
}

#[tokio::test]
async fn the_live_tail_streams_new_events_and_resumes_where_it_was() {
    let app = TestApp::spawn().await;
    let browser = Browser::sign_in(&app, KEY).await;
    let before = json!({"id": "t-0", "type": "participant.joined", "meetingId": "old-room",
        "participantId": "a", "participantName": "Earlier"});
    assert_eq!(
        app.signals(json!([before])).await.status(),
        StatusCode::ACCEPTED
    );
    let answer = browser.get("/ui/live/stream").await;
    assert_eq!(answer.headers()["content-type"], "text/event-stream");
    let join = json!({"id": "t-1", "type": "participant.joined", "meetingId": "live-room",
        "participantId": "b", "participantName": "Now"});
    assert_eq!(
        app.signals(json!([join])).await.status(),
        StatusCode::ACCEPTED
    );
    let text = read_stream(answer, |t| t.contains("participant-joined")).await;
    assert!(text.contains("live-room"), "{text}");
    assert!(
        !text.contains("old-room"),
        "the tail starts at the end of the log: {text}"
    );
    // A reconnect with the last id it saw gets what came after, and only that.
    let last_id = text
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .next_back()
        .unwrap()
        .to_owned();
    let later = json!({"id": "t-2", "type": "participant.left", "meetingId": "live-room",
        "participantId": "b", "reason": "left"});
    assert_eq!(
        app.signals(json!([later])).await.status(),
        StatusCode::ACCEPTED
    );
    let resumed = browser
        .client
        .get(format!("{}/ui/live/stream", browser.base))
        .header(COOKIE, &browser.cookie)
        .header("last-event-id", last_id)
        .send()
        .await
        .unwrap();
    let text = read_stream(resumed, |t| t.contains("session-ended")).await;
    assert!(text.contains("participant-left"), "{text}");
    assert!(
        !text.contains("participant-joined"),
        "nothing twice: {text}"
    );
}

mod actions;
