//! The many-rooms scenario: the throughput load on 1,000 of 100,000 rooms that each have their
//! own webhook, beside 1,000 more account endpoints, against the same load with none of them.
//! The extra subscriptions ask only for `recording-*`, which joins never cause, so both runs
//! deliver exactly the same webhooks and the ratio is the cost of having them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Bench, Load, Measured, Setup, Shape};
use crate::server::{sqlite_url, Server, KEY};

/// Setup requests in flight.
const SETUP_IN_FLIGHT: usize = 32;

impl Setup {
    /// Creates what the setup names on `server`, with webhooks on `receiver`; rooms are named
    /// like the load's meetings (`{run}-m{i}`), so the load's meetings are among them.
    pub(super) async fn prepare(
        self,
        client: &reqwest::Client,
        server: &Server,
        receiver: SocketAddr,
        run: &str,
    ) -> anyhow::Result<()> {
        let Setup::ManyRooms { rooms, endpoints } = self else {
            return Ok(());
        };
        let started = Instant::now();
        let gate = Arc::new(Semaphore::new(SETUP_IN_FLIGHT));
        let mut tasks = JoinSet::new();
        let requests = (0..rooms)
            .map(|i| {
                let body = json!({
                    "customRoomId": format!("{run}-m{i}"),
                    "webhook": {"endPoint": format!("http://{receiver}/room{i}"), "events": ["recording-*"]},
                });
                (server.url("/v2/rooms"), body)
            })
            .chain((0..endpoints).map(|i| {
                let body = json!({
                    "url": format!("http://{receiver}/idle{i}"),
                    "events": ["recording-started", "hls-*"],
                });
                (server.url("/v1/endpoints"), body)
            }));
        for (url, body) in requests {
            let permit = gate.clone().acquire_owned().await?;
            let request = client.post(url).bearer_auth(KEY).json(&body);
            tasks.spawn(async move {
                let status = request.send().await.map(|r| r.status().as_u16());
                drop(permit);
                status
            });
            while let Some(done) = tasks.try_join_next() {
                created(done?)?;
            }
        }
        while let Some(done) = tasks.join_next().await {
            created(done?)?;
        }
        eprintln!(
            "  {run}: {rooms} rooms with a webhook and {endpoints} account endpoints created in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

fn created(status: reqwest::Result<u16>) -> anyhow::Result<()> {
    match status {
        Ok(200 | 201) => Ok(()),
        Ok(other) => bail!("setup request answered {other}"),
        Err(e) => bail!("setup request failed: {e}"),
    }
}

impl Bench {
    pub async fn many_rooms(&mut self) -> anyhow::Result<()> {
        let signals = self.n(100_000);
        let rooms = self.n(100_000);
        let endpoints = self.n(1000);
        let meetings = 1000.min(rooms);
        let paths = vec!["/ep0".to_owned()];
        let mut measured = Vec::new();
        for (run, setup) in [
            ("mrnone", Setup::None),
            ("mrmany", Setup::ManyRooms { rooms, endpoints }),
        ] {
            let load = Load {
                run,
                paths: &paths,
                ordering: "meeting",
                signals,
                meetings,
                shape: Shape::BATCHED,
            };
            let dir = tempfile::tempdir_in(std::env::current_dir()?)?;
            let database = sqlite_url(dir.path());
            measured.push(self.through_nodes(&load, &database, 1, setup).await?);
        }
        let [none, many]: [Measured; 2] = measured
            .try_into()
            .map_err(|_| anyhow::anyhow!("two runs"))?;
        let name = format!(
            "many rooms ({signals} joins on {meetings} of {rooms} rooms with a webhook, {endpoints} more endpoints)"
        );
        let cost = many.ingest.as_secs_f64() / none.ingest.as_secs_f64().max(1e-6);
        self.row(
            &name,
            "ingest time",
            format!("{:.2} s", many.ingest.as_secs_f64()),
            format!("{:.2} s (none)", none.ingest.as_secs_f64()),
            Some(cost),
            "≤ 1.2×",
            Some(cost <= 1.2),
        );
        let ratio = many.figures.per_second / none.figures.per_second.max(1e-6);
        self.row(
            &name,
            "deliveries/s",
            format!("{:.0}", many.figures.per_second),
            format!("{:.0} (none)", none.figures.per_second),
            Some(ratio),
            "",
            None,
        );
        let cpu = many.cpu_ms_per_delivery / none.cpu_ms_per_delivery.max(1e-9);
        self.row(
            &name,
            "server CPU per delivery",
            format!("{:.3} ms", many.cpu_ms_per_delivery),
            format!("{:.3} ms (none)", none.cpu_ms_per_delivery),
            Some(cpu),
            "≤ 1.2×",
            Some(cpu <= 1.2),
        );
        self.row(
            &name,
            "peak RSS",
            format!("{:.1} MiB", many.peak_rss_mib),
            format!("{:.1} MiB (none)", none.peak_rss_mib),
            None,
            "",
            None,
        );
        self.missing_rows(&format!("{name}, none"), &none.figures);
        self.missing_rows(&name, &many.figures);
        Ok(())
    }
}
