//! The dashboard's endpoint actions (edit, enable and disable, secrets, test send, recover,
//! delete) compared with what the API does, and a revoked key ending its sessions.

use super::*;

async fn read(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/endpoints/{id}"))
        .await
        .json()
        .await
        .unwrap()
}

/// The flash message a redirect left for the next page.
async fn flash(browser: &Browser, answer: reqwest::Response) -> (String, String) {
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let to = answer.headers()[LOCATION].to_str().unwrap().to_owned();
    let page = browser.page(&to).await;
    let at = page.find("class=\"flash").expect("a flash message");
    let text = &page[at..];
    let text = &text[text.find('>').unwrap() + 1..text.find("</p>").unwrap()];
    (to, text.to_owned())
}

#[tokio::test]
async fn the_endpoint_actions_do_what_the_api_does() {
    let app = TestApp::spawn().await;
    let browser = Browser::sign_in(&app, KEY).await;
    let csrf = browser.csrf.clone();
    let (page, said) = flash(
        &browser,
        browser
            .post(
                "/ui/endpoints",
                &[
                    ("csrf", &csrf),
                    ("url", "https://example.com/a"),
                    ("events", "participant-*, session-ended"),
                ],
            )
            .await,
    )
    .await;
    assert!(
        said.starts_with("Endpoint created. Its signing secret: whsec_"),
        "{said}"
    );
    let id = page.strip_prefix("/ui/endpoints/").unwrap().to_owned();
    assert_eq!(
        read(&app, &id).await["events"],
        json!(["participant-*", "session-ended"])
    );
    // The API's own checks answer through the page.
    let (_, said) = flash(
        &browser,
        browser
            .post("/ui/endpoints", &[("csrf", &csrf), ("url", "ftp://x")])
            .await,
    )
    .await;
    assert!(said.contains("http"), "{said}");

    let path = format!("/ui/endpoints/{id}");
    let edit = [
        ("csrf", csrf.as_str()),
        ("url", "https://example.com/b"),
        ("description", "B"),
        ("events", "*"),
    ];
    assert_eq!(
        flash(&browser, browser.post(&path, &edit).await).await.1,
        "Saved."
    );
    let endpoint = read(&app, &id).await;
    assert_eq!(
        (endpoint["url"].as_str(), endpoint["description"].as_str()),
        (Some("https://example.com/b"), Some("B"))
    );

    let toggle = format!("{path}/enabled");
    flash(
        &browser,
        browser
            .post(&toggle, &[("csrf", &csrf), ("disabled", "true")])
            .await,
    )
    .await;
    assert_eq!(read(&app, &id).await["disabled"], true);
    flash(
        &browser,
        browser
            .post(&toggle, &[("csrf", &csrf), ("disabled", "false")])
            .await,
    )
    .await;
    assert_eq!(read(&app, &id).await["disabled"], false);

    let sent = browser
        .post(
            &format!("{path}/test"),
            &[("csrf", &csrf), ("webhook_type", "hls-started")],
        )
        .await;
    let (to, said) = flash(&browser, sent).await;
    assert_eq!(said, "Test event queued.");
    let message = to.strip_prefix("/ui/messages/").unwrap();
    let queued: Value = app
        .get(&format!("/v1/messages/{message}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            queued["endpointId"].as_str(),
            queued["webhookType"].as_str()
        ),
        (Some(id.as_str()), Some("hls-started"))
    );
    let (_, said) = flash(
        &browser,
        browser
            .post(
                &format!("{path}/test"),
                &[("csrf", &csrf), ("webhook_type", "nope")],
            )
            .await,
    )
    .await;
    assert!(said.contains("nope"), "{said}");

    let recover = format!("{path}/recover");
    let (_, said) = flash(
        &browser,
        browser
            .post(&recover, &[("csrf", &csrf), ("since", "2026-01-01T00:00")])
            .await,
    )
    .await;
    assert_eq!(said, "Re-queued 0 messages.");
    let (_, said) = flash(
        &browser,
        browser
            .post(&recover, &[("csrf", &csrf), ("since", "soon")])
            .await,
    )
    .await;
    assert_eq!(said, "since must be a date and time");

    let (to, _) = flash(
        &browser,
        browser
            .post(&format!("{path}/delete"), &[("csrf", &csrf)])
            .await,
    )
    .await;
    assert_eq!(to, "/ui/endpoints");
    assert_eq!(
        app.get(&format!("/v1/endpoints/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(browser.get(&path).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn revoking_the_key_ends_its_dashboard_sessions() {
    let app = TestApp::spawn().await;
    let created = app.create_api_key(KEY).await;
    let key = created["key"].as_str().unwrap();
    let browser = Browser::sign_in(&app, key).await;
    assert_eq!(browser.get("/ui/endpoints").await.status(), StatusCode::OK);
    let revoked = app
        .client
        .delete(app.url(&format!("/v1/api-keys/{}", created["id"].as_str().unwrap())))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let after = browser.get("/ui/endpoints").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(after.headers()[LOCATION], "/ui/sign-in");
}
