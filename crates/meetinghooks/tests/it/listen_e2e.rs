//! End to end with real binaries: `serve`, `listen` and `simulate`, together and alone.

use meetinghooks::Config;
use serde_json::json;
use tokio::process::Command;

use crate::helpers::*;

#[tokio::test]
async fn listen_shows_a_whole_simulated_meeting() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let server = Binary::serve(
        dir.path(),
        &[("MEETINGHOOKS_ALLOWED_PRIVATE_TARGETS", "[\"127.0.0.0/8\"]")],
    );
    server.wait_ready(&client).await;
    let port = free_port();
    let body = json!({"url": format!("http://127.0.0.1:{port}/hooks"), "events": ["*"]});
    let endpoint = post_json(&client, &server.url("/v1/endpoints"), body).await;

    let mut listen = Listen::start(port, endpoint["secret"].as_str().unwrap()).await;
    let first = listen.first_line.clone();
    assert!(
        first.contains("listening on") && first.contains("verifying"),
        "{first}"
    );

    let simulate = Command::new(binary_path())
        .args([
            "simulate",
            "--url",
            &server.url(""),
            "--recording",
            "--hls",
            "--livestream",
            "--rejoins",
            "1",
        ])
        .env("MEETINGHOOKS_API_KEY", KEY)
        .output()
        .await
        .unwrap();
    assert!(
        simulate.status.success(),
        "{}",
        String::from_utf8_lossy(&simulate.stderr)
    );

    let seen = listen
        .verified_until_session_ended("listen printed the whole meeting")
        .await;
    assert_eq!(
        seen,
        [
            "session-started",
            "participant-joined",
            "participant-joined",
            "participant-joined",
            "recording-starting",
            "recording-started",
            "livestream-starting",
            "livestream-started",
            "hls-starting",
            "hls-started",
            "livestream-stopped",
            "participant-left",
            "participant-left",
            "participant-left",
            "recording-stopped",
            "hls-stopped",
            "session-ended",
        ]
    );
    listen.child.kill().await.unwrap();
}

#[tokio::test]
async fn simulate_counts_what_it_prints_and_shows_the_grace_passing() {
    // A grace long enough for at least one progress line (every 2 s).
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        reconnect_grace: std::time::Duration::from_secs(4),
        ..test_config(dir.path())
    };
    let app = TestApp::spawn_with(dir, config).await;
    let output = client_command(&app, &["simulate", "--recording", "--drops", "1"])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let out = String::from_utf8(output.stdout.clone()).unwrap();
    let lines: Vec<&str> = out.lines().collect();

    let (meeting, sent) = lines[0]
        .strip_prefix("meeting ")
        .and_then(|l| l.split_once(": "))
        .unwrap_or_else(|| panic!("{out}"));
    let at_ingest: usize = sent
        .strip_suffix(" events at ingest")
        .and_then(|s| s.rsplit_once(' '))
        .and_then(|(head, n)| {
            assert!(head.contains(" signals sent; the server emitted"), "{out}");
            n.parse().ok()
        })
        .unwrap_or_else(|| panic!("{out}"));
    let in_all: usize = lines[1]
        .strip_prefix(&format!("meeting {meeting}: "))
        .and_then(|l| l.split_once(" events in all"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    let listed = lines[2..].iter().filter(|l| l.starts_with("  #")).count();
    assert_eq!(listed, lines.len() - 2, "{out}");
    assert_eq!(in_all, listed, "the count matches the list: {out}");
    assert_eq!(in_all, app.events(meeting).await.len());
    assert!(
        lines[1].contains(&format!(
            "({} after the reconnect grace)",
            in_all - at_ingest
        )),
        "{out}"
    );
    assert!(at_ingest < in_all, "the drop's leave comes later: {out}");

    let progress = stderr_of(&output);
    assert!(
        progress.contains("  waiting for the reconnect grace (10 s by default): 2 s…"),
        "{progress}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn simulate_without_a_server_asks_whether_it_runs() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let output = Command::new(binary_path())
        .args(["simulate", "--url", &url, "--api-key", KEY])
        .env_remove("MEETINGHOOKS_URL")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr_of(&output),
        format!("error: cannot reach {url}: is `meetinghooks serve` running?\n")
    );
}

#[tokio::test]
async fn listen_refuses_a_malformed_secret_naming_the_format() {
    let output = Command::new(binary_path())
        .args([
            "listen",
            "--port",
            &free_port().to_string(),
            "--secret",
            "whsec_not base64!",
        ])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let err = stderr_of(&output);
    assert!(
        err.contains("invalid --secret: expected whsec_ followed by base64"),
        "{err}"
    );
}

#[tokio::test]
async fn listen_shows_the_attempt_number_it_is_sent() {
    let port = free_port();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let mut listen = Listen::start(port, secret).await;
    let mut lines = listen.lines;

    let body = br#"{"webhookType":"session-started","data":{"sessionId":"s1","meetingId":"m1","start":"2026-01-01T10:00:00.000+00:00"}}"#;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let signature = meetinghooks_webhooks::Webhook::new(secret)
        .unwrap()
        .sign("msg_7", now, body);
    let client = reqwest::Client::new();
    for attempt in ["3", "4"] {
        let response = client
            .post(format!("http://127.0.0.1:{port}/hooks"))
            .header("webhook-id", "msg_7")
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", &signature)
            .header("webhook-sequence", "1")
            .header("webhook-attempt", attempt)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }
    let first = line_where(&mut lines, "the delivery", |l| !l.starts_with("  ")).await;
    assert_eq!(
        first,
        "✓ session-started #1 id=msg_7 meeting=m1 session=s1 attempt 3"
    );
    let second = line_where(&mut lines, "the redelivery", |l| !l.starts_with("  ")).await;
    assert_eq!(
        second,
        "↻ redelivery #2 of msg_7: session-started #1 meeting=m1 session=s1 attempt 4"
    );
    listen.child.kill().await.unwrap();
}
