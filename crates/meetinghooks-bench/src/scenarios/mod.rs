//! The scenarios. Each runs meetinghooks and, where a ratio is reported, the ceiling, in the
//! same process run, and adds rows to the report. This file holds the bench and its shared
//! runs and checks; `speed.rs` and `resilience.rs` hold the scenarios.

mod resilience;
mod speed;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::forwarder::Forwarder;
use crate::load::{blast, participants, SendLog};
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
}

const BATCH: usize = 100;
const CONCURRENCY: usize = 8;

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
    async fn through_meetinghooks(
        &self,
        run: &str,
        paths: &[String],
        ordering: &str,
        signals: usize,
        meetings: usize,
    ) -> anyhow::Result<Measured> {
        let dir = tempfile::tempdir_in(std::env::current_dir()?)?;
        let database = sqlite_url(dir.path());
        self.through_nodes(run, &database, 1, paths, ordering, signals, meetings)
            .await
    }

    /// Sends joins through `nodes` meetinghooks processes that share `database_url` to `paths`
    /// on one receiver, the ingest requests round-robin over the nodes, and waits for the
    /// webhooks.
    #[allow(clippy::too_many_arguments)] // the load's shape, plus where it runs
    pub async fn through_nodes(
        &self,
        run: &str,
        database_url: &str,
        nodes: usize,
        paths: &[String],
        ordering: &str,
        signals: usize,
        meetings: usize,
    ) -> anyhow::Result<Measured> {
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
        let mut servers = vec![first];
        for _ in 1..nodes {
            servers.push(Server::start_on_database(&self.binary, database_url).await?);
        }
        let ingest: Vec<String> = servers.iter().map(|s| s.url("/v1/signals")).collect();
        let ids = participants(run, signals);
        let started = Instant::now();
        let sent = blast(
            &self.client,
            &ingest,
            run,
            meetings,
            &ids,
            BATCH,
            CONCURRENCY,
        )
        .await?;
        eprintln!(
            "  {run}: {signals} signals ingested in {:.2} s; {} delivered by then",
            started.elapsed().as_secs_f64(),
            receiver.count()
        );
        let expected = expected(paths.iter().filter(|p| !p.starts_with("/hole")), &ids);
        wait_for(&receiver, expected.len(), Duration::from_secs(30)).await;
        Ok(Measured {
            figures: figures(&sent, &receiver.arrivals(), &expected, None),
            peak_rss_mib: servers.iter().map(Server::peak_rss_mib).fold(0.0, f64::max),
        })
    }

    /// The same load through the no-durability forwarder.
    async fn through_ceiling(
        &self,
        run: &str,
        paths: &[String],
        signals: usize,
        meetings: usize,
    ) -> anyhow::Result<Figures> {
        let receiver = Receiver::start().await?;
        let urls: Vec<String> = paths
            .iter()
            .map(|p| format!("http://{}{p}", receiver.addr))
            .collect();
        let forwarder = Forwarder::start(urls).await?;
        let ids = participants(run, signals);
        let url = format!("http://{}/v1/signals", forwarder.addr);
        let sent = blast(
            &self.client,
            &[url],
            run,
            meetings,
            &ids,
            BATCH,
            CONCURRENCY,
        )
        .await?;
        let expected = expected(paths.iter(), &ids);
        wait_for(&receiver, expected.len(), Duration::from_secs(30)).await;
        Ok(figures(&sent, &receiver.arrivals(), &expected, None))
    }

    async fn ceiling(&mut self) -> anyhow::Result<f64> {
        if let Some(c) = self.ceiling {
            return Ok(c);
        }
        let n = self.n(100_000);
        let c = self
            .through_ceiling("ceil", &["/ep0".into()], n, 1000)
            .await?
            .per_second;
        self.ceiling = Some(c);
        Ok(c)
    }

    pub fn missing_rows(&mut self, name: &str, f: &Figures) {
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
