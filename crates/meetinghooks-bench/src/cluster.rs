//! The cluster scenario: end-to-end throughput of 1, 2 and 3 meetinghooks nodes sharing one
//! PostgreSQL database, against one node on SQLite, in the same run.

use anyhow::Context;

use crate::postgres::Postgres;
use crate::scenarios::{Bench, Load, Measured, Setup, Shape};
use crate::server::sqlite_url;
use crate::stats::{ms, Figures};

/// The PostgreSQL configurations: how many nodes share one fresh database.
const NODES: [usize; 3] = [1, 2, 3];

impl Bench {
    /// The throughput scenario's load (one endpoint, `ordering: meeting`) through each
    /// configuration; the ingest requests go round-robin to the nodes. Skipped, with a row
    /// saying so, when no PostgreSQL server is given.
    pub async fn cluster(&mut self, postgres_url: Option<&str>) -> anyhow::Result<()> {
        let Some(postgres_url) = postgres_url else {
            eprintln!(
                "cluster: skipped, no PostgreSQL (give --postgres-url or MEETINGHOOKS_BENCH_POSTGRES_URL)"
            );
            self.row(
                "cluster",
                "skipped",
                "no --postgres-url".into(),
                String::new(),
                None,
                "",
                None,
            );
            return Ok(());
        };
        let postgres = Postgres::new(postgres_url)?;
        let version = postgres.check().await?;
        let signals = self.n(100_000);
        let meetings = 1000;
        let paths = vec!["/ep0".to_owned()];

        let shape = format!("{signals} joins, {meetings} meetings");

        let dir = tempfile::tempdir_in(std::env::current_dir()?)?;
        let load = Load {
            run: "clsq",
            paths: &paths,
            ordering: "meeting",
            signals,
            meetings,
            shape: Shape::BATCHED,
        };
        let Measured {
            figures: sqlite, ..
        } = self
            .through_nodes(&load, &sqlite_url(dir.path()), 1, Setup::None)
            .await?;
        drop(dir);
        progress("SQLite, 1 node", &sqlite);
        let name = format!("cluster: SQLite, 1 node ({shape})");
        self.row(
            &name,
            "deliveries/s",
            format!("{:.0}", sqlite.per_second),
            String::new(),
            None,
            "",
            None,
        );
        self.missing_rows(&name, &sqlite);

        for nodes in NODES {
            let config = format!(
                "PostgreSQL {version}, {nodes} node{}",
                if nodes == 1 { "" } else { "s" }
            );
            let database = postgres
                .fresh_database(&format!("{}_{nodes}n", std::process::id()))
                .await?;
            let run = format!("clpg{nodes}");
            let load = Load {
                run: &run,
                ..load.clone()
            };
            let outcome = self
                .through_nodes(&load, &database.url, nodes, Setup::None)
                .await;
            // The nodes are gone (killed when `through_nodes` returned), and so goes their
            // database, whatever the outcome.
            if let Err(e) = postgres.drop_database(&database.name).await {
                eprintln!("  could not drop {}: {e:#}", database.name);
            }
            let Measured { figures, .. } = outcome.with_context(|| format!("cluster, {config}"))?;
            progress(&config, &figures);
            let ratio = figures.per_second / sqlite.per_second;
            let name = format!("cluster: {config} ({shape})");
            self.row(
                &name,
                "deliveries/s",
                format!("{:.0}", figures.per_second),
                format!("{:.0} (SQLite, 1 node)", sqlite.per_second),
                Some(ratio),
                "",
                None,
            );
            self.missing_rows(&name, &figures);
        }

        let database = postgres
            .fresh_database(&format!("{}_wake", std::process::id()))
            .await?;
        let outcome = self.wakeups(&database.url, self.scale).await;
        if let Err(e) = postgres.drop_database(&database.name).await {
            eprintln!("  could not drop {}: {e:#}", database.name);
        }
        let wakeups = outcome.context("wake-up")?;
        let name = format!(
            "cluster: PostgreSQL {version}, wake-up ({} signals, one at a time)",
            wakeups.sorted.len()
        );
        self.row(
            &name,
            "idle node, signal sent to another node → webhook: p50 / max",
            format!("{} / {}", ms(wakeups.pct(0.5)), ms(wakeups.pct(1.0))),
            String::new(),
            None,
            "",
            None,
        );
        let p99 = wakeups.pct(0.99);
        self.row(
            &name,
            "idle node, signal sent to another node → webhook: p99",
            ms(p99),
            String::new(),
            None,
            "≤ 20 ms",
            Some(p99 <= std::time::Duration::from_millis(20)),
        );
        Ok(())
    }
}

fn progress(config: &str, f: &Figures) {
    eprintln!(
        "  cluster, {config}: {:.0} deliveries/s; {} delivered, {} missing, {} duplicates",
        f.per_second, f.delivered, f.missing, f.duplicates
    );
}
