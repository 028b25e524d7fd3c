//! End to end with real binaries: `serve`, `listen` and `simulate` together.

use std::time::Duration;

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
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let body = json!({"url": format!("http://127.0.0.1:{port}/hooks"), "events": ["*"]});
    let endpoint = post_json(&client, &server.url("/v1/endpoints"), body).await;

    let mut listen = Listen::start(port, endpoint["secret"].as_str().unwrap()).await;
    let first = listen.first_line.clone();
    let mut lines = listen.lines;
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

    let mut seen = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            assert!(!line.starts_with('✗'), "a delivery was rejected: {line}");
            if let Some(rest) = line.strip_prefix("✓ ") {
                let kind = rest.split_whitespace().next().unwrap().to_owned();
                let done = kind == "session-ended";
                seen.push(kind);
                if done {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("listen printed the whole meeting");
    assert_eq!(
        seen,
        [
            "session-started",
            "participant-joined",
            "participant-joined",
            "participant-joined",
            "recording-started",
            "livestream-started",
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
