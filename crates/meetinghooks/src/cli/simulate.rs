//! `meetinghooks simulate`: plays realistic meetings against a server through its public API.

use std::time::Duration;

use anyhow::bail;
use serde_json::{json, Value};

use super::client::{outln, Answer, ApiClient, ClientArgs, ClientError};
use super::simulate_livekit::{self, LiveKitKeys};
use crate::domain::ids::random_hex_id;
use crate::domain::timestamp::Timestamp;

#[derive(clap::Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    client: ClientArgs,
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
    /// Send the meeting as a LiveKit server does: its webhooks, signed with
    /// --livekit-key/--livekit-secret, to `POST /v1/sources/livekit` (the source is
    /// registered if the key is new).
    #[arg(long)]
    livekit: bool,
    /// The LiveKit API key to sign with (LiveKit's `--dev` mode uses `devkey`).
    #[arg(long, default_value = "devkey", requires = "livekit")]
    livekit_key: String,
    /// Its secret (LiveKit's `--dev` mode uses `secret`).
    #[arg(long, default_value = "secret", requires = "livekit")]
    livekit_secret: String,
    /// How long to wait for each meeting's `session-ended`.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    wait: Duration,
}

pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
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
    // Each medium starts as a media server reports it: starting, then started.
    if args.recording {
        push("recording.starting", json!({}));
        push("recording.started", json!({}));
    }
    if args.livestream {
        push("livestream.starting", json!({}));
        push("livestream.started", json!({}));
    }
    if args.hls {
        push("hls.starting", json!({}));
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

/// How often the wait for a meeting's end says how long it has waited.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// The parts of the ingest answer the summary uses.
#[derive(serde::Deserialize)]
struct IngestReport {
    events: usize,
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    if args.participants == 0 {
        bail!("--participants must be at least 1");
    }
    let api = ApiClient::new(&args.client)?;
    let keys = LiveKitKeys {
        api_key: args.livekit_key.clone(),
        api_secret: args.livekit_secret.clone(),
    };
    if args.livekit {
        simulate_livekit::ensure_source(&api, &keys).await?;
    }
    for m in 0..args.meetings {
        let meeting_id = format!("sim-{}-{m}", random_hex_id("", 3));
        let signals = script(&args, &meeting_id);
        let refused = |err: ClientError| match err {
            ClientError::Api { .. } => {
                anyhow::anyhow!("the server refused meeting {meeting_id}: {err}")
            }
            other => other.into(),
        };
        let (sent, at_ingest) = if args.livekit {
            let events = simulate_livekit::events(&signals, &meeting_id);
            let emitted = simulate_livekit::post(&api, &keys, &events)
                .await
                .map_err(|e| match e.downcast::<ClientError>() {
                    Ok(err) => refused(err),
                    Err(other) => other,
                })?;
            (format!("{} LiveKit webhooks", events.len()), emitted)
        } else {
            let sent = signals.len();
            let report: Answer<IngestReport> = api
                .post(
                    api.url(&["v1", "signals"], &[]),
                    Some(json!({ "signals": signals })),
                )
                .await
                .map_err(refused)?;
            (format!("{sent} signals"), report.value.events)
        };
        outln!(
            "meeting {meeting_id}: {sent} sent; the server emitted {at_ingest} events at ingest"
        );
        let awaited = match args.drops.min(args.participants) {
            0 => EndAwaited::SessionEnded,
            _ => EndAwaited::ReconnectGrace,
        };
        let Waited { events, ended } = wait_for_end(&api, &meeting_id, args.wait, awaited).await?;
        let later = events.len().saturating_sub(at_ingest);
        let mut summary = format!("meeting {meeting_id}: {} events in all", events.len());
        if later > 0 {
            summary.push_str(&format!(" ({later} after the reconnect grace)"));
        }
        if !ended {
            summary.push_str(&format!(
                "; the session had not ended after {:?}",
                args.wait
            ));
        }
        outln!("{summary}, listed below:");
        for event in &events {
            outln!(
                "  #{:<3} {:<20} {}",
                event.sequence,
                event.webhook_type,
                event.payload
            );
        }
    }
    Ok(())
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventPage {
    data: Vec<ListedEvent>,
    next_cursor: Option<String>,
}

/// An event as listed; the payload stays raw so it prints exactly as webhooks carry it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedEvent {
    sequence: u64,
    webhook_type: String,
    payload: Box<serde_json::value::RawValue>,
}

/// Every event of a meeting so far, following cursors.
async fn meeting_events(api: &ApiClient, meeting_id: &str) -> anyhow::Result<Vec<ListedEvent>> {
    let mut events = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut query = vec![("meetingId", meeting_id), ("limit", "500")];
        if let Some(cursor) = &after {
            query.push(("after", cursor));
        }
        let page: Answer<EventPage> = api.get(api.url(&["v1", "events"], &query)).await?;
        events.extend(page.value.data);
        match page.value.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => return Ok(events),
        }
    }
}

/// What ends the simulated session, named in the progress lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndAwaited {
    /// Participants dropped: the session ends when their reconnect grace runs out.
    ReconnectGrace,
    SessionEnded,
}

/// The meeting's events once the wait is over.
struct Waited {
    events: Vec<ListedEvent>,
    /// Whether the session ended within the wait.
    ended: bool,
}

/// Polls the event log until the meeting's session has ended or `wait` runs out, saying on
/// stderr every few seconds how long it has waited.
async fn wait_for_end(
    api: &ApiClient,
    meeting_id: &str,
    wait: Duration,
    awaited: EndAwaited,
) -> anyhow::Result<Waited> {
    let started = tokio::time::Instant::now();
    let deadline = started + wait;
    let mut next_progress = started + PROGRESS_EVERY;
    loop {
        let events = meeting_events(api, meeting_id).await?;
        let ended = events.iter().any(|e| e.webhook_type == "session-ended");
        let now = tokio::time::Instant::now();
        if ended || now >= deadline {
            return Ok(Waited { events, ended });
        }
        if now >= next_progress {
            let waited = (now - started).as_secs();
            match awaited {
                EndAwaited::ReconnectGrace => {
                    eprintln!("  waiting for the reconnect grace (10 s by default): {waited} s…")
                }
                EndAwaited::SessionEnded => eprintln!("  waiting for session-ended: {waited} s…"),
            }
            next_progress += PROGRESS_EVERY;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
