//! `simulate --livekit`: the simulated meeting as a LiveKit server reports it — its webhook
//! events, signed with a LiveKit key pair as LiveKit signs — through `POST /v1/sources/livekit`.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::client::{ApiClient, ClientError};
use crate::domain::timestamp::Timestamp;
use crate::sources::livekit::sign::sign;

/// The key pair the simulated LiveKit server signs with.
pub struct LiveKitKeys {
    pub api_key: String,
    pub api_secret: String,
}

/// Registers a source for the key pair, unless a source holds the key already (then its
/// secret must be this one, or every request is refused with a 401).
pub async fn ensure_source(api: &ApiClient, keys: &LiveKitKeys) -> anyhow::Result<()> {
    let body =
        json!({"kind":"livekit","keys":[{"apiKey":keys.api_key,"apiSecret":keys.api_secret}]});
    match api
        .post::<Value>(api.url(&["v1", "sources"], &[]), Some(body))
        .await
    {
        Ok(_) => Ok(()),
        Err(ClientError::Api { code, .. }) if code == "conflict" => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// What the LiveKit receiver answered.
#[derive(serde::Deserialize)]
struct Receipt {
    events: Option<usize>,
}

/// Posts each event signed as LiveKit signs it; returns the events emitted that were counted.
pub async fn post(api: &ApiClient, keys: &LiveKitKeys, events: &[Value]) -> anyhow::Result<usize> {
    let url = api.url(&["v1", "sources", "livekit"], &[]);
    let mut emitted = 0;
    for event in events {
        let body = event.to_string().into_bytes();
        let token = sign(
            &keys.api_key,
            &keys.api_secret,
            &body,
            Timestamp::now().0 / 1000,
        );
        let receipt = api.post_signed::<Receipt>(url.clone(), body, token).await?;
        emitted += receipt.value.events.unwrap_or(0);
    }
    Ok(emitted)
}

fn ms_of(signal: &Value) -> i64 {
    signal["at"]
        .as_str()
        .and_then(Timestamp::parse_rfc3339)
        .map_or_else(|| Timestamp::now().0, |t| t.0)
}

/// LiveKit's webhook events for a script of signals: `room_started`, then one event per
/// signal (each join a new connection, egress by output), then `room_finished`.
pub fn events(signals: &[Value], meeting_id: &str) -> Vec<Value> {
    let first = signals.first().map_or_else(|| Timestamp::now().0, ms_of);
    let last = signals.last().map_or(first, ms_of);
    let room = json!({"sid":"RM_sim","name":meeting_id,"emptyTimeout":300});
    let mut n = 0;
    let mut event = |name: &str, at_ms: i64, extra: Value| {
        n += 1;
        let mut e = json!({"event":name,"id":format!("EV_{meeting_id}_{n}"),
            "createdAt":(at_ms / 1000).to_string()});
        e.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        e
    };
    let mut out = vec![event("room_started", first - 1_000, json!({"room":room}))];
    let mut connections: HashMap<String, (usize, i64)> = HashMap::new();
    let mut egresses: Vec<(&str, Value)> = Vec::new();
    for signal in signals {
        let at = ms_of(signal);
        let p = signal["participantId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let participant = |sid: String, joined: i64, reason: Option<&str>| {
            let mut info = json!({"sid":sid,"identity":p,"name":signal["participantName"].as_str().unwrap_or(&p),
                "joinedAt":(joined / 1000).to_string(),"joinedAtMs":joined.to_string()});
            if let Some(reason) = reason {
                info["disconnectReason"] = json!(reason);
            }
            info
        };
        match signal["type"].as_str().unwrap_or_default() {
            "participant.joined" => {
                let count = connections.get(&p).map_or(0, |c| c.0 + 1);
                connections.insert(p.clone(), (count, at));
                let info = participant(format!("PA_{p}_{count}"), at, None);
                out.push(event(
                    "participant_joined",
                    at,
                    json!({"room":room,"participant":info}),
                ));
            }
            "participant.left" => {
                let (count, joined) = connections.get(&p).copied().unwrap_or((0, at));
                let reason = match signal["reason"].as_str() {
                    Some("left") => "CLIENT_INITIATED",
                    Some("removed") => "PARTICIPANT_REMOVED",
                    _ => "SIGNAL_CLOSE",
                };
                let info = participant(format!("PA_{p}_{count}"), joined, Some(reason));
                out.push(event(
                    "participant_left",
                    at,
                    json!({"room":room,"participant":info}),
                ));
            }
            kind @ ("recording.started" | "livestream.started" | "hls.started") => {
                let (id, outputs) = match kind {
                    "recording.started" => (
                        "EG_rec",
                        json!({"roomComposite":{"roomName":meeting_id,
                        "fileOutputs":[{"fileType":"MP4","filepath":"{room_name}.mp4"}]}}),
                    ),
                    "livestream.started" => (
                        "EG_live",
                        json!({"roomComposite":{"roomName":meeting_id,
                        "streamOutputs":[{"protocol":"RTMP","urls":["rtmp://live.example.com/app/key"]}]}}),
                    ),
                    _ => (
                        "EG_hls",
                        json!({"roomComposite":{"roomName":meeting_id,
                        "segmentOutputs":[{"protocol":"HLS_PROTOCOL","playlistName":"index.m3u8"}]},
                        "segmentResults":[{"playlistLocation":signal["downstreamUrl"]}]}),
                    ),
                };
                for (name, status) in [
                    ("egress_started", None),
                    ("egress_updated", Some("EGRESS_ACTIVE")),
                ] {
                    out.push(event(
                        name,
                        at,
                        egress(id, meeting_id, status, at, &outputs),
                    ));
                }
                egresses.push((id, outputs));
            }
            kind @ ("recording.stopped" | "livestream.stopped" | "hls.stopped") => {
                let id = match kind {
                    "recording.stopped" => "EG_rec",
                    "livestream.stopped" => "EG_live",
                    _ => "EG_hls",
                };
                if let Some(i) = egresses.iter().position(|(e, _)| *e == id) {
                    let (id, outputs) = egresses.remove(i);
                    let info = egress(id, meeting_id, Some("EGRESS_COMPLETE"), at, &outputs);
                    out.push(event("egress_ended", at, info));
                }
            }
            _ => {}
        }
    }
    // Egress still running ends with the room, after its participants left.
    for (id, outputs) in &egresses {
        let info = egress(id, meeting_id, Some("EGRESS_COMPLETE"), last, outputs);
        out.push(event("egress_ended", last, info));
    }
    out.push(event("room_finished", last + 1_000, json!({"room":room})));
    out
}

fn egress(id: &str, meeting_id: &str, status: Option<&str>, at_ms: i64, outputs: &Value) -> Value {
    let mut info = json!({"egressId":id,"roomId":"RM_sim","roomName":meeting_id,
        "updatedAt":(at_ms * 1_000_000).to_string()});
    if let Some(status) = status {
        info["status"] = json!(status);
    }
    info.as_object_mut()
        .unwrap()
        .extend(outputs.as_object().unwrap().clone());
    json!({ "egressInfo": info })
}
