//! The scenarios. Each runs meetinghooks and, where a ratio is reported, the ceiling, in the
//! same process run, and adds rows to the report. This file holds the bench and its shared
//! runs and checks; `speed.rs` and `resilience.rs` hold the scenarios.

mod many_rooms;
mod resilience;
mod speed;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::forwarder::Forwarder;
use crate::load::{blast, paced, participants, SendLog};
use crate::receiver::Receiver;
use crate::report::Row;
use crate::server::{create_endpoints, sqlite_url, Server};
use crate::stats::{figures, Figures};

pub struct Bench {
    pub binary: PathBuf,
    pub client: reqwest::Client,
    /// Multiplies every count, for quicker runs.
    pub scale: f64,
    pub rows: Vec<Row>,
    /// The ceiling's deliveries per second from the throughput scenario.
    ceiling: Option<f64>,
}

/// What one run through meetinghooks measured.
pub struct Measured {
    pub figures: Figures,
    /// The highest peak RSS of a node, in MiB.
    pub peak_rss_mib: f64,
    /// From the first request sent to the last one answered.
    pub ingest: Duration,
    /// The nodes' CPU time (user and system) from the first signal to the last webhook, per
    /// delivered webhook: on a shared machine, steadier than any rate.
    pub cpu_ms_per_delivery: f64,
}

/// What exists on the first node before the load starts, besides the load's endpoints.
#[derive(Debug, Clone, Copy)]
pub enum Setup {
    None,
    /// `rooms` rooms with their own webhook and `endpoints` more account endpoints, all
    /// subscribed to events the load never causes (see `many_rooms.rs`).
    ManyRooms {
        rooms: usize,
        endpoints: usize,
    },
}

const BATCH: usize = 100;
const CONCURRENCY: usize = 8;

/// How a load is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// As fast as it goes: `batch` signals per request, `in_flight` requests at once.
    Blast { batch: usize, in_flight: usize },
    /// `rate` signals per second, one request per millisecond tick, for `seconds`.
    Paced { rate: usize, seconds: u64 },
}

impl Shape {
    /// Batches of 100, 8 requests in flight.
    pub const BATCHED: Shape = Shape::Blast {
        batch: BATCH,
        in_flight: CONCURRENCY,
    };
    /// One signal per request, 32 in flight: the shape a media layer sends.
    pub const SINGLE: Shape = Shape::Blast {
        batch: 1,
        in_flight: 32,
    };

    /// Sends the load's joins to `urls` (round-robin; a paced load goes to the first).
    async fn send(
        self,
        client: &reqwest::Client,
        urls: &[String],
        load: &Load<'_>,
    ) -> anyhow::Result<SendLog> {
        match self {
            Shape::Blast { batch, in_flight } => {
                let ids = participants(load.run, load.signals);
                blast(
                    client,
                    urls,
                    load.run,
                    load.meetings,
                    &ids,
                    batch,
                    in_flight,
                )
                .await
            }
            Shape::Paced { rate, seconds } => {
                let url = urls.first().map(String::as_str).unwrap_or_default();
                let duration = Duration::from_secs(seconds);
                paced(client, url, load.run, load.meetings, rate, duration).await
            }
        }
    }
}

/// One load: joins for `meetings` meetings, delivered to `paths` on one receiver.
#[derive(Debug, Clone)]
pub struct Load<'a> {
    pub run: &'a str,
    pub paths: &'a [String],
    pub ordering: &'a str,
    pub signals: usize,
    pub meetings: usize,
    pub shape: Shape,
}

impl Bench {
    pub fn new(binary: PathBuf, scale: f64) -> anyhow::Result<Bench> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .build()?;
        Ok(Bench {
            binary,
            client,
            scale,
            rows: Vec::new(),
            ceiling: None,
        })
    }

    pub fn n(&self, count: usize) -> usize {
        ((count as f64 * self.scale).round() as usize).max(1)
    }

    #[allow(clippy::too_many_arguments)] // one argument per table column
    pub fn row(
        &mut self,
        scenario: &str,
        metric: &str,
        ours: String,
        ceiling: String,
        ratio: Option<f64>,
        target: &str,
        met: Option<bool>,
    ) {
        self.rows.push(Row {
            scenario: scenario.into(),
            metric: metric.into(),
            ours,
            ceiling,
            ratio,
            target: target.into(),
            met,
        });
    }

    async fn server(&self) -> anyhow::Result<(tempfile::TempDir, Server)> {
        let dir = tempfile::tempdir_in(std::env::current_dir()?)?;
        let server = Server::start(&self.binary, dir.path()).await?;
        Ok((dir, server))
    }

    /// Sends joins through meetinghooks to `paths` on one receiver and waits for them.
    async fn through_meetinghooks(&self, load: &Load<'_>) -> anyhow::Result<Measured> {
        let dir = tempfile::tempdir_in(std::env::current_dir()?)?;
        let database = sqlite_url(dir.path());
        self.through_nodes(load, &database, 1, Setup::None).await
    }

    /// Sends joins through `nodes` meetinghooks processes that share `database_url` to `paths`
    /// on one receiver, the ingest requests round-robin over the nodes, and waits for the
    /// webhooks.
    pub async fn through_nodes(
        &self,
        load: &Load<'_>,
        database_url: &str,
        nodes: usize,
        setup: Setup,
    ) -> anyhow::Result<Measured> {
        let Load {
            run,
            paths,
            ordering,
            ..
        } = load.clone();
        let receiver = Receiver::start().await?;
        let urls: Vec<String> = paths
            .iter()
            .map(|p| format!("http://{}{p}", receiver.addr))
            .collect();
        // The endpoints exist before the other nodes start, so each node knows them from its
        // start (the endpoint list is reloaded only every few seconds); and every node is up
        // before the first signal, since a starting node releases the leases it finds.
        let first = Server::start_on_database(&self.binary, database_url).await?;
        create_endpoints(&self.client, &first, &urls, ordering).await?;
        setup
            .prepare(&self.client, &first, receiver.addr, run)
            .await?;
        let mut servers = vec![first];
        for _ in 1..nodes {
            servers.push(Server::start_on_database(&self.binary, database_url).await?);
        }
        let ingest: Vec<String> = servers.iter().map(|s| s.url("/v1/signals")).collect();
        let cpu_before: f64 = servers.iter().map(Server::cpu_seconds).sum();
        let started = Instant::now();
        let sent = load.shape.send(&self.client, &ingest, load).await?;
        let ingest_time = started.elapsed();
        eprintln!(
            "  {run}: {} signals ingested in {:.2} s; {} delivered by then",
            sent.len(),
            ingest_time.as_secs_f64(),
            receiver.count()
        );
        let healthy = paths.iter().filter(|p| !p.starts_with("/hole"));
        let expected = expected_of(healthy, &sent);
        wait_for(&receiver, expected.len(), Duration::from_secs(30)).await;
        // Arrivals on paths nobody expects (the many-rooms scenario's idle subscriptions)
        // count as duplicates: nothing may arrive there.
        let mut arrivals = receiver.arrivals();
        let stray = arrivals
            .iter()
            .filter(|a| !paths.iter().any(|p| **p == *a.path))
            .count();
        arrivals.retain(|a| paths.iter().any(|p| **p == *a.path));
        let mut figures = figures(&sent, &arrivals, &expected, None);
        figures.duplicates += stray;
        let cpu = servers.iter().map(Server::cpu_seconds).sum::<f64>() - cpu_before;
        eprintln!(
            "  {run}: {:.0} deliveries/s; server CPU {cpu:.2} s, {:.3} ms per delivery; longest pause between arrivals {}",
            figures.per_second,
            cpu * 1000.0 / figures.delivered.max(1) as f64,
            crate::stats::ms(figures.longest_pause)
        );
        Ok(Measured {
            cpu_ms_per_delivery: cpu * 1000.0 / figures.delivered.max(1) as f64,
            figures,
            peak_rss_mib: servers.iter().map(Server::peak_rss_mib).fold(0.0, f64::max),
            ingest: ingest_time,
        })
    }

    /// The same load through the no-durability forwarder.
    async fn through_ceiling(&self, load: &Load<'_>) -> anyhow::Result<Figures> {
        let paths = load.paths;
        let receiver = Receiver::start().await?;
        let urls: Vec<String> = paths
            .iter()
            .map(|p| format!("http://{}{p}", receiver.addr))
            .collect();
        let forwarder = Forwarder::start(urls).await?;
        let url = format!("http://{}/v1/signals", forwarder.addr);
        let sent = load.shape.send(&self.client, &[url], load).await?;
        let expected = expected_of(paths.iter(), &sent);
        wait_for(&receiver, expected.len(), Duration::from_secs(30)).await;
        Ok(figures(&sent, &receiver.arrivals(), &expected, None))
    }

    async fn ceiling(&mut self) -> anyhow::Result<f64> {
        if let Some(c) = self.ceiling {
            return Ok(c);
        }
        let n = self.n(100_000);
        let paths = ["/ep0".to_owned()];
        let load = Load {
            run: "ceil",
            paths: &paths,
            ordering: "meeting",
            signals: n,
            meetings: 1000,
            shape: Shape::BATCHED,
        };
        let c = self.through_ceiling(&load).await?.per_second;
        self.ceiling = Some(c);
        Ok(c)
    }

    /// The server's CPU time per delivered webhook.
    pub fn cpu_row(&mut self, name: &str, cpu_ms_per_delivery: f64) {
        self.row(
            name,
            "server CPU per delivery",
            format!("{cpu_ms_per_delivery:.3} ms"),
            String::new(),
            None,
            "",
            None,
        );
    }

    /// Nothing missing, nothing twice.
    pub fn missing_rows(&mut self, name: &str, f: &Figures) {
        self.row(
            name,
            "delivered / missing / duplicates",
            format!("{} / {} / {}", f.delivered, f.missing, f.duplicates),
            String::new(),
            None,
            "0 missing, 0 duplicates",
            Some(f.missing == 0 && f.duplicates == 0),
        );
    }

    /// Nothing missing; duplicates are allowed (after a kill -9).
    pub fn at_least_once_rows(&mut self, name: &str, f: &Figures) {
        self.row(
            name,
            "delivered / missing / duplicates",
            format!("{} / {} / {}", f.delivered, f.missing, f.duplicates),
            String::new(),
            None,
            "0 missing",
            Some(f.missing == 0),
        );
    }
}

fn expected<'a>(
    paths: impl Iterator<Item = &'a String>,
    ids: &[String],
) -> HashSet<(String, String)> {
    paths
        .flat_map(|p| ids.iter().map(move |id| (p.clone(), id.clone())))
        .collect()
}

/// Every (path, participant) pair of a send log.
fn expected_of<'a>(
    paths: impl Iterator<Item = &'a String>,
    sent: &SendLog,
) -> HashSet<(String, String)> {
    paths
        .flat_map(|p| sent.keys().map(move |id| (p.clone(), id.clone())))
        .collect()
}

fn expected_from(sent: &SendLog, path: &str) -> HashSet<(String, String)> {
    sent.keys().map(|k| (path.to_owned(), k.clone())).collect()
}

/// Waits until `count` arrivals, or until none has come for `stall`.
async fn wait_for(receiver: &Receiver, count: usize, stall: Duration) {
    let mut last = (receiver.count(), Instant::now());
    while receiver.count() < count {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = receiver.count();
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > stall {
            eprintln!("  stalled at {now} of {count} arrivals");
            return;
        }
    }
}
