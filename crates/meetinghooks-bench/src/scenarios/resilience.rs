//! Resilience scenarios: isolation from failing endpoints, a backlog behind a receiver that
//! was down, recovery after a crash, an idle server, and CI's smoke check.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{expected, wait_for, Bench, Load, Measured, Shape, BATCH, CONCURRENCY};
use crate::load::{blast, participants, SendLog};
use crate::receiver::Receiver;
use crate::server::{create_endpoints, db_bytes, free_addr, Server};
use crate::stats::{figures, ms};

/// Joins per second in the isolation scenario (×100 endpoints).
const ISOLATION_RATE: usize = 15;

/// A server with messages piled up for a receiver that is down.
struct PiledUp {
    /// The server's folder, dropped after the server.
    dir: tempfile::TempDir,
    server: Server,
    /// Where the receiver listens once it comes up.
    addr: SocketAddr,
    /// The (endpoint path, participant) arrivals the receiver must see.
    expected: HashSet<(String, String)>,
    /// How long ingesting the pile took.
    ingest: Duration,
}

impl Bench {
    /// 15 joins per second for 30 s (at scale 1) to 100 endpoints, 10 of them black holes,
    /// against the same load with all 100 healthy: long enough that a stall of the shared
    /// machine is a small part of it.
    pub async fn isolation(&mut self) -> anyhow::Result<()> {
        let seconds = (30.0 * self.scale).max(1.0) as u64;
        let shape = Shape::Paced {
            rate: ISOLATION_RATE,
            seconds,
        };
        let healthy: Vec<String> = (0..90).map(|i| format!("/ep{i}")).collect();
        let mut with_holes = healthy.clone();
        with_holes.extend((0..10).map(|i| format!("/hole{i}")));
        let mut without_holes = healthy.clone();
        without_holes.extend((90..100).map(|i| format!("/ep{i}")));
        let signals = ISOLATION_RATE * seconds as usize;
        let mut load = Load {
            run: "isoa",
            paths: &without_holes,
            ordering: "meeting",
            signals,
            meetings: 30,
            shape,
        };
        let Measured { figures: base, .. } = self.through_meetinghooks(&load).await?;
        load.run = "isob";
        load.paths = &with_holes;
        // Only the 90 shared endpoints count in the baseline too.
        let Measured { figures: holes, .. } = self.through_meetinghooks(&load).await?;
        let base_healthy = base.per_second * 90.0 / 100.0;
        let ratio = holes.per_second / base_healthy;
        let name = format!(
            "isolation ({ISOLATION_RATE} joins/s for {seconds} s, 90 healthy + 10 black holes)"
        );
        self.row(
            &name,
            "healthy deliveries/s",
            format!("{:.0}", holes.per_second),
            format!("{base_healthy:.0} (no holes)"),
            Some(ratio),
            "≥ 0.9×",
            Some(ratio >= 0.9),
        );
        let p99_ratio = holes.p99.as_secs_f64() / base.p99.as_secs_f64().max(1e-6);
        self.row(
            &name,
            "healthy p99",
            ms(holes.p99),
            format!("{} (no holes)", ms(base.p99)),
            Some(p99_ratio),
            "≤ 1.5×",
            Some(p99_ratio <= 1.5),
        );
        self.missing_rows(&format!("{name}, no holes"), &base);
        self.missing_rows(&name, &holes);
        Ok(())
    }

    /// Piles up messages for 10 endpoints on a receiver that is down.
    async fn pile_up(&self, run: &str) -> anyhow::Result<PiledUp> {
        let signals = self.n(100_000);
        let addr = free_addr()?;
        let paths: Vec<String> = (0..10).map(|i| format!("/ep{i}")).collect();
        let (dir, server) = self.server().await?;
        let urls: Vec<String> = paths.iter().map(|p| format!("http://{addr}{p}")).collect();
        create_endpoints(&self.client, &server, &urls, "meeting").await?;
        let ids = participants(run, signals);
        let started = Instant::now();
        blast(
            &self.client,
            &[server.url("/v1/signals")],
            run,
            1000,
            &ids,
            BATCH,
            CONCURRENCY,
        )
        .await?;
        let ingest = started.elapsed();
        Ok(PiledUp {
            dir,
            server,
            addr,
            expected: expected(paths.iter(), &ids),
            ingest,
        })
    }

    pub async fn backlog(&mut self) -> anyhow::Result<()> {
        let ceiling = self.ceiling().await?;
        let PiledUp {
            dir,
            server,
            addr,
            expected,
            ingest,
        } = self.pile_up("bl").await?;
        let name = format!("backlog ({} messages, receiver down)", expected.len());
        self.row(
            &name,
            "ingest time",
            format!("{:.1} s", ingest.as_secs_f64()),
            String::new(),
            None,
            "",
            None,
        );
        let up = Instant::now();
        let receiver = Receiver::start_on(addr).await?;
        wait_for(&receiver, expected.len(), Duration::from_secs(60)).await;
        let f = figures(&SendLog::new(), &receiver.arrivals(), &expected, Some(up));
        let ratio = f.per_second / ceiling;
        self.row(
            &name,
            "drain deliveries/s",
            format!("{:.0}", f.per_second),
            format!("{ceiling:.0}"),
            Some(ratio),
            "≥ 0.5×",
            Some(ratio >= 0.5),
        );
        let rss = server.peak_rss_mib();
        self.row(
            &name,
            "peak RSS",
            format!("{rss:.1} MiB"),
            String::new(),
            None,
            "≤ 150 MiB",
            Some(rss <= 150.0),
        );
        self.row(
            &name,
            "database size",
            format!("{:.0} MiB", db_bytes(dir.path()) as f64 / 1048576.0),
            String::new(),
            None,
            "",
            None,
        );
        self.missing_rows(&name, &f);
        Ok(())
    }

    pub async fn recovery(&mut self) -> anyhow::Result<()> {
        let PiledUp {
            dir,
            mut server,
            addr,
            expected,
            ingest: _,
        } = self.pile_up("rc").await?;
        let name = format!("recovery (kill -9 with {} pending)", expected.len());
        server.kill9();
        let receiver = Receiver::start_on(addr).await?;
        let restarted = Instant::now();
        let server = Server::start(&self.binary, dir.path()).await?;
        wait_for(&receiver, expected.len(), Duration::from_secs(60)).await;
        let arrivals = receiver.arrivals();
        let first = arrivals
            .iter()
            .map(|a| a.at)
            .min()
            .map(|t| t.duration_since(restarted));
        let last = arrivals
            .iter()
            .map(|a| a.at)
            .max()
            .map(|t| t.duration_since(restarted));
        let f = figures(&SendLog::new(), &arrivals, &expected, Some(restarted));
        let first = first.unwrap_or(Duration::MAX);
        self.row(
            &name,
            "first delivery after restart",
            ms(first),
            String::new(),
            None,
            "≤ 2 s",
            Some(first <= Duration::from_secs(2)),
        );
        self.row(
            &name,
            "time to drain",
            format!("{:.1} s", last.unwrap_or_default().as_secs_f64()),
            String::new(),
            None,
            "",
            None,
        );
        // At least once: a kill -9 may repeat what was in flight.
        self.at_least_once_rows(&name, &f);
        drop(server);
        Ok(())
    }

    pub async fn idle(&mut self) -> anyhow::Result<()> {
        let (_dir, server) = self.server().await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss = server.rss_mib();
        self.row(
            "idle",
            "RSS after start",
            format!("{rss:.1} MiB"),
            String::new(),
            None,
            "≤ 30 MiB",
            Some(rss <= 30.0),
        );
        Ok(())
    }

    /// CI's check: 1,000 signals, nothing missing, no timing asserted.
    pub async fn smoke(&mut self) -> anyhow::Result<bool> {
        let paths = vec!["/ep0".to_owned()];
        let load = Load {
            run: "smoke",
            paths: &paths,
            ordering: "meeting",
            signals: 1000,
            meetings: 10,
            shape: Shape::BATCHED,
        };
        let Measured { figures: ours, .. } = self.through_meetinghooks(&load).await?;
        self.missing_rows("smoke (1000 joins)", &ours);
        Ok(ours.missing == 0)
    }
}
