//! `meetinghooks simulate`: plays realistic meetings against a server through its public API.

use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::domain::ids::random_hex_id;
use crate::domain::timestamp::Timestamp;

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// Base URL of a running server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API key of the project to drive.
    #[arg(long, env = "MEETINGHOOKS_API_KEY")]
    api_key: String,
    /// Meetings to run.
    #[arg(long, default_value_t = 1)]
    meetings: usize,
    /// Participants per meeting.
    #[arg(long, default_value_t = 3)]
    participants: usize,
    /// Disconnects followed by a rejoin inside the reconnect grace (emit nothing).
    #[arg(long, default_value_t = 1)]
    rejoins: usize,
    /// Disconnects with no rejoin (emit `participant-left` once the grace expires).
    #[arg(long, default_value_t = 0)]
    drops: usize,
    /// Record each meeting.
    #[arg(long)]
    recording: bool,
    /// Start HLS in each meeting.
    #[arg(long)]
    hls: bool,
    /// Livestream each meeting.
    #[arg(long)]
    livestream: bool,
    /// How long to wait for each meeting's `session-ended`.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    wait: Duration,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::config::duration_text::parse(text).ok_or_else(|| format!("invalid duration {text:?}"))
}

/// Builds one meeting's signals, timed one second apart and ending in the recent past.
fn script(args: &SimulateArgs, meeting_id: &str) -> Vec<Value> {
    let mut signals = Vec::new();
    let mut push = |kind: &str, extra: Value| {
        let mut signal =
            json!({"id": random_hex_id("sig_", 8), "type": kind, "meetingId": meeting_id});
        signal
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        signals.push(signal);
    };
    let participants: Vec<String> = (1..=args.participants).map(|i| format!("p{i}")).collect();
    for p in &participants {
        push(
            "participant.joined",
            json!({"participantId": p, "participantName": format!("Participant {p}")}),
        );
    }
    if args.recording {
        push("recording.started", json!({}));
    }
    if args.livestream {
        push("livestream.started", json!({}));
    }
    if args.hls {
        push(
            "hls.started",
            json!({"downstreamUrl": format!("https://cdn.example.com/hls/{meeting_id}/index.m3u8")}),
        );
    }
    for k in 0..args.rejoins {
        let p = &participants[k % participants.len()];
        push(
            "participant.left",
            json!({"participantId": p, "reason": "disconnected"}),
        );
        push(
            "participant.joined",
            json!({"participantId": p, "participantName": format!("Participant {p}")}),
        );
    }
    let dropped = args.drops.min(participants.len());
    for p in &participants[..dropped] {
        push(
            "participant.left",
            json!({"participantId": p, "reason": "disconnected"}),
        );
    }
    if args.livestream {
        push("livestream.stopped", json!({}));
    }
    for p in &participants[dropped..] {
        push(
            "participant.left",
            json!({"participantId": p, "reason": "left"}),
        );
    }
    // Space signals one second apart, the last one a second ago.
    let start = Timestamp::now().0 - 1_000 * (signals.len() as i64 + 1);
    for (i, signal) in signals.iter_mut().enumerate() {
        signal["at"] = json!(Timestamp(start + 1_000 * i as i64).to_rfc3339());
    }
    signals
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    if args.participants == 0 {
        bail!("--participants must be at least 1");
    }
    let client = reqwest::Client::new();
    let base = args.url.trim_end_matches('/');
    let auth = format!("Bearer {}", args.api_key);
    for m in 0..args.meetings {
        let meeting_id = format!("sim-{}-{m}", random_hex_id("", 3));
        let signals = script(&args, &meeting_id);
        let response = client
            .post(format!("{base}/v1/signals"))
            .header("authorization", &auth)
            .json(&json!({ "signals": signals }))
            .send()
            .await
            .with_context(|| format!("posting signals to {base}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("the server refused meeting {meeting_id}: {status} {body}");
        }
        println!(
            "meeting {meeting_id}: {} signals sent, {body}",
            signals.len()
        );
        let events = wait_for_end(&client, base, &auth, &meeting_id, args.wait).await?;
        for event in &events {
            println!(
                "  #{:<3} {:<20} {}",
                event.sequence, event.webhook_type, event.payload
            );
        }
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct EventPage {
    data: Vec<ListedEvent>,
}

/// An event as listed; the payload stays raw so it prints exactly as webhooks carry it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedEvent {
    sequence: u64,
    webhook_type: String,
    payload: Box<serde_json::value::RawValue>,
}

/// Polls the event log until the meeting's session has ended or `wait` runs out.
async fn wait_for_end(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    meeting_id: &str,
    wait: Duration,
) -> anyhow::Result<Vec<ListedEvent>> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let page: EventPage = client
            .get(format!("{base}/v1/events?meetingId={meeting_id}&limit=500"))
            .header("authorization", auth)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let events = page.data;
        let ended = events.iter().any(|e| e.webhook_type == "session-ended");
        if ended || tokio::time::Instant::now() >= deadline {
            if !ended {
                eprintln!("  (session of {meeting_id} had not ended after {wait:?})");
            }
            return Ok(events);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
