//! The scenarios. Each runs meetinghooks and, where a ratio is reported, the ceiling, in the
//! same process run, and adds rows to the report.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::forwarder::Forwarder;
use crate::load::{blast, paced, participants, SendLog};
use crate::receiver::Receiver;
use crate::report::Row;
use crate::server::{create_endpoints, db_bytes, free_addr, sqlite_url, Server};
use crate::stats::{figures, ms, Figures};

pub struct Bench {
    pub binary: PathBuf,
    pub client: reqwest::Client,
    /// Multiplies every count, for quicker runs.
    pub scale: f64,
    pub rows: Vec<Row>,
    /// The ceiling's deliveries per second from the throughput scenario.
    ceiling: Option<f64>,
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
    ) -> anyhow::Result<(Figures, f64)> {
        let dir = tempfile::tempdir_in(std::env::current_dir()?)?;
        let database = sqlite_url(dir.path());
        self.through_nodes(run, &database, 1, paths, ordering, signals, meetings)
            .await
    }

    /// Sends joins through `nodes` meetinghooks processes that share `database_url` to `paths`
    /// on one receiver, the ingest requests round-robin over the nodes, and waits for the
    /// webhooks. Returns the figures and the highest peak RSS of a node.
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
    ) -> anyhow::Result<(Figures, f64)> {
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
        let rss = servers.iter().map(Server::peak_rss_mib).fold(0.0, f64::max);
        Ok((figures(&sent, &receiver.arrivals(), &expected, None), rss))
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

    pub async fn throughput(&mut self) -> anyhow::Result<()> {
        let n = self.n(100_000);
        let paths = vec!["/ep0".to_owned()];
        let (ours, rss) = self
            .through_meetinghooks("tp", &paths, "meeting", n, 1000)
            .await?;
        let ceiling = self.through_ceiling("tpc", &paths, n, 1000).await?;
        self.ceiling = Some(ceiling.per_second);
        let ratio = ours.per_second / ceiling.per_second;
        let name = format!("throughput ({n} joins, 1000 meetings)");
        self.row(
            &name,
            "deliveries/s",
            format!("{:.0}", ours.per_second),
            format!("{:.0}", ceiling.per_second),
            Some(ratio),
            "≥ 0.5×",
            Some(ratio >= 0.5),
        );
        self.row(
            &name,
            "latency p50 / p99",
            format!("{} / {}", ms(ours.p50), ms(ours.p99)),
            format!("{} / {}", ms(ceiling.p50), ms(ceiling.p99)),
            None,
            "",
            None,
        );
        self.missing_rows(&name, &ours);
        self.row(
            &name,
            "peak RSS",
            format!("{rss:.1} MiB"),
            String::new(),
            None,
            "",
            None,
        );
        Ok(())
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

    pub async fn latency(&mut self) -> anyhow::Result<()> {
        let seconds = (30.0 * self.scale).max(1.0) as u64;
        for (rate, target_ms) in [(1000usize, 20u64), (5000, 50)] {
            let receiver = Receiver::start().await?;
            let (_dir, server) = self.server().await?;
            create_endpoints(
                &self.client,
                &server,
                &[format!("http://{}/ep0", receiver.addr)],
                "meeting",
            )
            .await?;
            let run = format!("lat{rate}");
            let (sent, count) = paced(
                &self.client,
                &server.url("/v1/signals"),
                &run,
                1000,
                rate,
                Duration::from_secs(seconds),
            )
            .await?;
            let expected = expected_from(&sent, "/ep0");
            wait_for(&receiver, count, Duration::from_secs(30)).await;
            let ours = figures(&sent, &receiver.arrivals(), &expected, None);
            drop(server);

            let receiver = Receiver::start().await?;
            let forwarder = Forwarder::start(vec![format!("http://{}/ep0", receiver.addr)]).await?;
            let (sent, count) = paced(
                &self.client,
                &format!("http://{}/v1/signals", forwarder.addr),
                &format!("{run}c"),
                1000,
                rate,
                Duration::from_secs(seconds),
            )
            .await?;
            let expected_c = expected_from(&sent, "/ep0");
            wait_for(&receiver, count, Duration::from_secs(30)).await;
            let ceiling = figures(&sent, &receiver.arrivals(), &expected_c, None);

            let name = format!("latency {rate}/s for {seconds} s");
            self.row(
                &name,
                "p50 / p90",
                format!("{} / {}", ms(ours.p50), ms(ours.p90)),
                format!("{} / {}", ms(ceiling.p50), ms(ceiling.p90)),
                None,
                "",
                None,
            );
            let met = ours.p99 <= Duration::from_millis(target_ms);
            self.row(
                &name,
                "p99",
                ms(ours.p99),
                ms(ceiling.p99),
                None,
                &format!("≤ {target_ms} ms"),
                Some(met),
            );
            self.row(&name, "max", ms(ours.max), ms(ceiling.max), None, "", None);
            self.missing_rows(&name, &ours);
        }
        Ok(())
    }

    pub async fn fanout(&mut self) -> anyhow::Result<()> {
        for (endpoints, events) in [(100usize, 200usize), (1000, 20)] {
            let events = self.n(events);
            let paths: Vec<String> = (0..endpoints).map(|i| format!("/ep{i}")).collect();
            let (ours, rss) = self
                .through_meetinghooks(&format!("fan{endpoints}"), &paths, "none", events, 10)
                .await?;
            let ceiling = self
                .through_ceiling(&format!("fan{endpoints}c"), &paths, events, 10)
                .await?;
            let ratio = ours.per_second / ceiling.per_second;
            let name = format!("fanout {events} events × {endpoints} endpoints");
            self.row(
                &name,
                "deliveries/s",
                format!("{:.0}", ours.per_second),
                format!("{:.0}", ceiling.per_second),
                Some(ratio),
                "≥ 0.5×",
                Some(ratio >= 0.5),
            );
            self.missing_rows(&name, &ours);
            self.row(
                &name,
                "peak RSS",
                format!("{rss:.1} MiB"),
                String::new(),
                None,
                "",
                None,
            );
        }
        Ok(())
    }

    pub async fn isolation(&mut self) -> anyhow::Result<()> {
        let signals = self.n(300);
        let healthy: Vec<String> = (0..90).map(|i| format!("/ep{i}")).collect();
        let mut with_holes = healthy.clone();
        with_holes.extend((0..10).map(|i| format!("/hole{i}")));
        let mut without_holes = healthy.clone();
        without_holes.extend((90..100).map(|i| format!("/ep{i}")));
        let (base, _) = self
            .through_meetinghooks("isoa", &without_holes, "meeting", signals, 30)
            .await?;
        // Only the 90 shared endpoints count in the baseline too.
        let (holes, _) = self
            .through_meetinghooks("isob", &with_holes, "meeting", signals, 30)
            .await?;
        let base_healthy = base.per_second * 90.0 / 100.0;
        let ratio = holes.per_second / base_healthy;
        let name = format!("isolation ({signals} joins, 90 healthy + 10 black holes)");
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
            "≤ 2×",
            Some(p99_ratio <= 2.0),
        );
        self.missing_rows(&name, &holes);
        Ok(())
    }

    /// Piles up messages for 10 endpoints on a receiver that is down. Returns the server,
    /// its folder, the receiver's address and the expected arrivals.
    async fn pile_up(
        &self,
        run: &str,
    ) -> anyhow::Result<(
        tempfile::TempDir,
        Server,
        std::net::SocketAddr,
        HashSet<(String, String)>,
        Duration,
    )> {
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
        Ok((dir, server, addr, expected(paths.iter(), &ids), ingest))
    }

    pub async fn backlog(&mut self) -> anyhow::Result<()> {
        let ceiling = self.ceiling().await?;
        let (dir, server, addr, expected, ingest) = self.pile_up("bl").await?;
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
        let (dir, mut server, addr, expected, _) = self.pile_up("rc").await?;
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
        self.missing_rows(&name, &f);
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
        let (ours, _) = self
            .through_meetinghooks("smoke", &paths, "meeting", 1000, 10)
            .await?;
        self.missing_rows("smoke (1000 joins)", &ours);
        Ok(ours.missing == 0)
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
