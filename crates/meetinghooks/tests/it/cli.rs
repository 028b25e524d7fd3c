//! The operator commands (`endpoints`, `messages`, `tail`, `completions`), `simulate` and
//! `listen`, run as the real binary against an app on port 0.

use std::process::Stdio;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{ChildStderr, Command};

use crate::helpers::*;
use crate::receiver::Receiver;

/// Runs a command to its end and insists that it succeeded; returns its stdout.
async fn run_ok(app: &TestApp, args: &[&str]) -> String {
    let output = client_command(app, args).output().await.unwrap();
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn endpoints_are_managed_from_the_command_line() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(204).await;

    let out = run_ok(
        &app,
        &[
            "endpoints",
            "create",
            &receiver.url("/hooks"),
            "--events",
            "participant-joined,session-*",
            "--events",
            "recording-started",
            "--description",
            "from the CLI",
            "--ordering",
            "none",
        ],
    )
    .await;
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("created endpoint "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no endpoint id in {out}"))
        .to_owned();
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap_or_else(|| panic!("no secret in {out}"))
        .to_owned();

    // The API sees exactly what was asked for, and the secret printed is the one in force.
    let endpoint: Value = app
        .get(&format!("/v1/endpoints/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(endpoint["url"], receiver.url("/hooks"));
    assert_eq!(
        endpoint["events"],
        json!(["participant-joined", "session-*", "recording-started"])
    );
    assert_eq!(endpoint["description"], "from the CLI");
    assert_eq!(endpoint["ordering"], "none");
    let in_force: Value = app
        .get(&format!("/v1/endpoints/{id}/secret"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(in_force["secret"], secret.as_str());

    let list = run_ok(&app, &["endpoints", "list"]).await;
    let row = list
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} not listed: {list}"));
    assert!(
        row.contains("enabled") && row.contains("from the CLI"),
        "{row}"
    );
    let listed: Value =
        serde_json::from_str(&run_ok(&app, &["endpoints", "list", "--json"]).await).unwrap();
    assert_eq!(listed["data"][0]["id"], id.as_str());

    let shown = run_ok(&app, &["endpoints", "show", &id]).await;
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("ordering") && l.ends_with(" none")),
        "{shown}"
    );

    run_ok(&app, &["endpoints", "disable", &id]).await;
    let endpoint: Value = app
        .get(&format!("/v1/endpoints/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(endpoint["disabled"], true);
    assert!(run_ok(&app, &["endpoints", "show", &id])
        .await
        .contains("disabled: disabled through the API"));
    run_ok(&app, &["endpoints", "enable", &id]).await;
    let endpoint: Value = app
        .get(&format!("/v1/endpoints/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(endpoint["disabled"], false);

    let rotated = run_ok(&app, &["endpoints", "rotate", &id]).await;
    let new_secret = rotated
        .lines()
        .find_map(|l| l.strip_prefix("new secret: "))
        .unwrap_or_else(|| panic!("no new secret in {rotated}"));
    assert_ne!(new_secret, secret);
    let in_force: Value = app
        .get(&format!("/v1/endpoints/{id}/secret"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(in_force["secret"], new_secret);
    app.shutdown().await;
}

#[tokio::test]
async fn messages_are_listed_shown_and_resent_to_a_real_listen() {
    let app = TestApp::delivering().await;
    let port = free_port();
    let out = run_ok(
        &app,
        &[
            "endpoints",
            "create",
            &format!("http://127.0.0.1:{port}/hooks"),
            "--json",
        ],
    )
    .await;
    let endpoint: Value = serde_json::from_str(&out).unwrap();
    let endpoint_id = endpoint["id"].as_str().unwrap();

    let mut listen = Listen::start(port, endpoint["secret"].as_str().unwrap()).await;
    let mut lines = listen.lines;

    let at = "2026-01-01T10:00:00Z";
    let response = app.signals(json!([join("s1", "cli-m", "p1", at)])).await;
    assert_eq!(response.status(), 202);
    let messages = app
        .wait_messages(endpoint_id, |ms| {
            ms.len() == 2 && ms.iter().all(|m| m["status"] == "succeeded")
        })
        .await;
    let joined = messages
        .iter()
        .find(|m| m["webhookType"] == "participant-joined")
        .unwrap();
    let id = joined["id"].as_str().unwrap();
    line_where(&mut lines, "the first delivery", |l| {
        l.starts_with("✓ participant-joined") && l.contains(&format!("id={id} "))
    })
    .await;

    let list = run_ok(&app, &["messages", "list", "--endpoint", endpoint_id]).await;
    let rows: Vec<&str> = list.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{list}");
    let row = rows.iter().find(|r| r.starts_with(id)).unwrap();
    assert!(
        row.contains("succeeded") && row.contains("participant-joined") && row.contains("204"),
        "{row}"
    );
    let filtered = run_ok(
        &app,
        &[
            "messages",
            "list",
            "--meeting",
            "other",
            "--status",
            "failed",
        ],
    )
    .await;
    assert_eq!(filtered, "no messages\n");
    let one: Value =
        serde_json::from_str(&run_ok(&app, &["messages", "list", "--limit", "1", "--json"]).await)
            .unwrap();
    assert_eq!(one["data"].as_array().unwrap().len(), 1);
    assert!(one["nextCursor"].is_string(), "{one}");

    let resent = run_ok(&app, &["messages", "resend", id]).await;
    assert!(
        resent.starts_with(&format!("resent {id}: 204 in ")),
        "{resent}"
    );
    // listen tells the redelivery from the original.
    let again = line_where(&mut lines, "the redelivery", |l| !l.starts_with("  ")).await;
    assert!(
        again.starts_with(&format!("↻ redelivery #2 of {id}: participant-joined #2 ")),
        "{again}"
    );

    let shown = run_ok(&app, &["messages", "show", id]).await;
    assert!(
        shown.lines().any(|l| l == "attempts      2"),
        "the message counts both attempts: {shown}"
    );
    let attempt_rows = shown
        .lines()
        .skip_while(|l| !l.starts_with("ATTEMPTED"))
        .skip(1)
        .filter(|l| l.contains(" 204 "))
        .count();
    assert_eq!(attempt_rows, 2, "{shown}");
    let shown: Value =
        serde_json::from_str(&run_ok(&app, &["messages", "show", id, "--json"]).await).unwrap();
    assert_eq!(shown["message"]["id"], id);
    assert_eq!(shown["attempts"].as_array().unwrap().len(), 2);

    listen.child.kill().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn tail_prints_events_committed_after_it_started() {
    let app = TestApp::spawn().await;
    let at = "2026-01-01T10:00:00Z";
    let before = app
        .signals(json!([join("t1", "tail-before", "p1", at)]))
        .await;
    assert_eq!(before.status(), 202);

    let mut tail = client_command(&app, &["tail", "--interval", "50ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(tail.stdout.take().unwrap()).lines();
    let mut err: Lines<BufReader<ChildStderr>> =
        BufReader::new(tail.stderr.take().unwrap()).lines();
    // Once it says so, it holds its place at the end of the log.
    line_where(&mut err, "tail to start", |l| {
        l.starts_with("following events")
    })
    .await;

    let after = app
        .signals(json!([join("t2", "tail-after", "p1", at)]))
        .await;
    assert_eq!(after.status(), 202);
    let first = line_where(&mut out, "the first event", |_| true).await;
    assert!(
        first.contains(" tail-after #1 ") && first.contains("session-started"),
        "an event from before tail started, or none: {first}"
    );
    let second = line_where(&mut out, "the second event", |_| true).await;
    assert!(
        second.contains(" tail-after #2 ") && second.contains("participant-joined"),
        "{second}"
    );
    tail.kill().await.unwrap();

    // --from-start --json: the whole log, one API object per line, filtered by meeting.
    let mut tail = client_command(
        &app,
        &["tail", "--from-start", "--json", "--meeting", "tail-before"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut out = BufReader::new(tail.stdout.take().unwrap()).lines();
    for sequence in [1, 2] {
        let line = line_where(&mut out, "an event of tail-before", |_| true).await;
        let event: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(event["meetingId"], "tail-before", "{line}");
        assert_eq!(event["sequence"], sequence, "{line}");
    }
    tail.kill().await.unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn completions_for_bash_print_a_script() {
    let output = Command::new(binary_path())
        .args(["completions", "bash"])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let script = String::from_utf8(output.stdout).unwrap();
    assert!(script.contains("_meetinghooks()"), "{script}");
    assert!(script.contains("complete -F _meetinghooks"), "{script}");
    // The operator commands are offered.
    assert!(script.contains("endpoints") && script.contains("tail"));
}

#[tokio::test]
async fn a_wrong_key_and_a_missing_server_are_clear_errors() {
    let app = TestApp::spawn().await;
    let output = client_command(&app, &["endpoints", "list", "--api-key", "wrong-key"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert_eq!(stderr_of(&output), "error: unauthorized: unknown API key\n");

    let output = client_command(&app, &["messages", "show", "msg_999999"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr_of(&output), "error: not_found: message not found\n");

    let url = format!("http://127.0.0.1:{}", free_port());
    for args in [
        vec!["endpoints", "list"],
        vec!["messages", "list"],
        vec!["tail"],
    ] {
        let output = client_command(&app, &args)
            .env("MEETINGHOOKS_URL", &url)
            .output()
            .await
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(
            stderr_of(&output),
            format!("error: cannot reach {url}: is `meetinghooks serve` running?\n"),
            "{args:?}"
        );
    }

    // The key's variable is named in --help, its value never.
    let help = client_command(&app, &["endpoints", "list", "--help"])
        .output()
        .await
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("[env: MEETINGHOOKS_API_KEY]"), "{help}");
    assert!(help.contains("[env: MEETINGHOOKS_URL]"), "{help}");
    assert!(!help.contains(KEY), "{help}");
    app.shutdown().await;
}

/// `meetinghooks serve` on a chosen address, so that a restart comes back where it was.
fn serve_on(dir: &std::path::Path, addr: std::net::SocketAddr) -> Binary {
    let child = std::process::Command::new(binary_path())
        .args(["serve", "--listen", &addr.to_string()])
        .env("MEETINGHOOKS_DATABASE_URL", database_url(dir))
        .env("MEETINGHOOKS_BOOTSTRAP_API_KEY", KEY)
        .env("MEETINGHOOKS_SECRET_KEY", SECRET_KEY)
        .env("MEETINGHOOKS_LOG", "warn")
        .envs(OLD_SIGNALS_NO_METRICS)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Binary { child, addr }
}

#[tokio::test]
async fn tail_waits_out_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let client = reqwest::Client::new();
    let server = serve_on(dir.path(), addr);
    server.wait_ready(&client).await;

    let mut tail = Command::new(binary_path())
        .args(["tail", "--interval", "50ms", "--url", &server.url("")])
        .env("MEETINGHOOKS_API_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(tail.stdout.take().unwrap()).lines();
    let mut err = BufReader::new(tail.stderr.take().unwrap()).lines();
    line_where(&mut err, "tail to start", |l| {
        l.starts_with("following events")
    })
    .await;

    server.kill9();
    let lost = line_where(&mut err, "tail to notice", |_| true).await;
    assert!(
        lost.starts_with(&format!(
            "cannot reach http://{addr}: is `meetinghooks serve` running? (trying again"
        )),
        "{lost}"
    );
    let server = serve_on(dir.path(), addr);
    server.wait_ready(&client).await;
    let back = line_where(&mut err, "tail to reconnect", |_| true).await;
    assert_eq!(back, format!("reached http://{addr} again"));

    let body = json!({"signals": [join("r1", "after-restart", "p1", "2026-01-01T10:00:00Z")]});
    let answer = post_json(&client, &server.url("/v1/signals"), body).await;
    assert_eq!(answer["events"], 2, "{answer}");
    let first = line_where(&mut out, "an event after the restart", |_| true).await;
    assert!(first.contains(" after-restart #1 "), "{first}");
    tail.kill().await.unwrap();
}
