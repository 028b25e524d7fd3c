//! `meetinghooks simulate --livekit`, the real binary: the same meeting sent as LiveKit's
//! signed webhooks makes the same catalog events as when sent as signals.

use crate::helpers::*;

/// Runs `simulate` with `args`; returns the meeting's id and its webhook types in order.
async fn simulated(app: &TestApp, args: &[&str]) -> (String, Vec<String>) {
    let output = client_command(app, args).output().await.unwrap();
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{args:?}: {}\n{out}",
        stderr_of(&output)
    );
    let meeting = out
        .split_whitespace()
        .nth(1)
        .and_then(|w| w.strip_suffix(':'))
        .expect("meeting id in the first line")
        .to_owned();
    let types = app
        .events(&meeting)
        .await
        .iter()
        .map(|e| e["webhookType"].as_str().unwrap().to_owned())
        .collect();
    (meeting, types)
}

#[tokio::test]
async fn simulate_livekit_signs_as_livekit_and_matches_the_signals_path() {
    let app = TestApp::spawn().await;
    let common = [
        "simulate",
        "--recording",
        "--hls",
        "--livestream",
        "--rejoins",
        "1",
        "--wait",
        "20s",
    ];
    let (_, by_signals) = simulated(&app, &common).await;
    let mut livekit = common.to_vec();
    livekit.extend([
        "--livekit",
        "--livekit-key",
        "sim-key",
        "--livekit-secret",
        "sim-secret",
    ]);
    let (meeting, by_livekit) = simulated(&app, &livekit).await;
    assert_eq!(by_livekit, by_signals, "{meeting}");
    assert_eq!(by_livekit.last().map(String::as_str), Some("session-ended"));
    // It registered its source, and a second run reuses it.
    let (_, again) = simulated(&app, &livekit).await;
    assert_eq!(again, by_signals);
    let sources: serde_json::Value = app.get("/v1/sources").await.json().await.unwrap();
    assert_eq!(sources["data"][0]["apiKeys"][0], "sim-key");
    assert_eq!(sources["data"].as_array().unwrap().len(), 1);
    // A wrong secret for a registered key is refused, and says so.
    let mut wrong = common.to_vec();
    wrong.extend([
        "--livekit",
        "--livekit-key",
        "sim-key",
        "--livekit-secret",
        "not-it",
    ]);
    let output = client_command(&app, &wrong).output().await.unwrap();
    assert!(!output.status.success());
    assert!(
        stderr_of(&output).contains("unauthorized"),
        "{}",
        stderr_of(&output)
    );
    app.shutdown().await;
}
