//! The PostgreSQL wake-up figure: how long an idle node takes to deliver work that another
//! node created, from the ingest request to the webhook's arrival.
//!
//! Node B takes the signals but cannot deliver them: it runs with one global slot, which a
//! room webhook that never answers holds for the whole measurement. So every webhook of the
//! measured signals is delivered by node A, which heard of them only through PostgreSQL.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;

use crate::receiver::Receiver;
use crate::scenarios::Bench;
use crate::server::{create_endpoints, Server, KEY};
use crate::stats::ms;

/// Signals sent one at a time, each after the last one's webhook arrived.
const SAMPLES: usize = 200;
/// Node B's one attempt to the black hole lasts this long: the measurement must end before.
const HOLE_TIMEOUT: &str = "30s";
/// Between samples, so node A is idle again when the next one comes.
const GAP: Duration = Duration::from_millis(30);

/// Wake-up latencies, sorted.
pub struct Wakeups {
    pub sorted: Vec<Duration>,
}

impl Wakeups {
    pub fn pct(&self, p: f64) -> Duration {
        if self.sorted.is_empty() {
            return Duration::MAX;
        }
        self.sorted[((self.sorted.len() - 1) as f64 * p).round() as usize]
    }
}

impl Bench {
    /// Measures on `database_url`, a fresh PostgreSQL database.
    pub async fn wakeups(&self, database_url: &str, scale: f64) -> anyhow::Result<Wakeups> {
        let samples = ((SAMPLES as f64 * scale).round() as usize).max(10);
        let receiver = Receiver::start().await?;
        let b = Server::start_with(
            &self.binary,
            database_url,
            &[
                ("MEETINGHOOKS_GLOBAL_CONCURRENCY", "1"),
                ("MEETINGHOOKS_REQUEST_TIMEOUT", HOLE_TIMEOUT),
            ],
        )
        .await?;
        // The black hole takes B's only slot.
        let room = json!({
            "customRoomId": "wake-hole",
            "webhook": {"endPoint": format!("http://{}/hole0", receiver.addr), "events": ["participant-joined"]},
        });
        self.client
            .post(b.url("/v2/rooms"))
            .bearer_auth(KEY)
            .json(&room)
            .send()
            .await?
            .error_for_status()?;
        self.post_join(&b, "wake-hole", "hole-0").await?;
        let held = Instant::now();
        create_endpoints(
            &self.client,
            &b,
            &[format!("http://{}/ep0", receiver.addr)],
            "none",
        )
        .await?;
        let a = Server::start_on_database(&self.binary, database_url).await?;
        let mut sorted = Vec::with_capacity(samples);
        for i in 0..samples {
            tokio::time::sleep(GAP).await;
            let before = receiver.count();
            let sent = Instant::now();
            self.post_join(&b, &format!("wake-m{i}"), &format!("wake-{i}"))
                .await?;
            let deadline = sent + Duration::from_secs(5);
            while receiver.count() == before {
                if Instant::now() > deadline {
                    bail!("wake-up: sample {i} not delivered within 5 s");
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            let arrival = receiver
                .arrivals()
                .last()
                .map(|a| a.at)
                .context("arrival")?;
            sorted.push(arrival.duration_since(sent));
        }
        // Let stragglers come: exactly one webhook per sample may arrive.
        tokio::time::sleep(Duration::from_millis(500)).await;
        if receiver.count() != samples {
            bail!(
                "wake-up: {} webhooks arrived for {samples} signals",
                receiver.count()
            );
        }
        if held.elapsed() > Duration::from_secs(25) {
            bail!("wake-up: the measurement outlasted node B's held slot; results are void");
        }
        drop(a);
        drop(b);
        sorted.sort_unstable();
        let wakeups = Wakeups { sorted };
        eprintln!(
            "  wake-up over {samples} samples: p50 {} / p99 {} / max {}",
            ms(wakeups.pct(0.5)),
            ms(wakeups.pct(0.99)),
            ms(wakeups.pct(1.0))
        );
        Ok(wakeups)
    }

    async fn post_join(&self, server: &Server, meeting: &str, id: &str) -> anyhow::Result<()> {
        let body = json!({"signals": [{
            "id": id, "type": "participant.joined", "meetingId": meeting,
            "participantId": id, "participantName": "Wake",
        }]});
        let status = self
            .client
            .post(server.url("/v1/signals"))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await?
            .status();
        if status.as_u16() != 202 {
            bail!("ingest answered {status}");
        }
        Ok(())
    }
}
