//! The fault scenario: three real nodes on one private PostgreSQL, random routing with
//! re-sends, a receiver that fails and stalls, nodes killed with `-9` and frozen with
//! SIGSTOP (once while holding row locks), and one PostgreSQL restart. It checks what must
//! hold whatever happens (see `check`) and reports the duplicates.

mod check;
mod load;
mod nodes;
mod receiver;
mod schedule;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::postgres::Postgres;
use crate::scenarios::Bench;
use crate::server::KEY;
use check::Event;
use nodes::Node;
use receiver::Receiver;

/// Where the PostgreSQL server runs, so the scenario can restart it.
pub struct PostgresServer<'a> {
    /// An admin DSN, e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
    pub url: &'a str,
    /// The folder `scripts/postgres` manages (restarted with `scripts/postgres restart`).
    pub dir: Option<&'a Path>,
}

impl Bench {
    /// Runs the fault schedule; fails on overlap, loss, gaps, broken sessions or stuck
    /// messages, and prints the duplicate count either way.
    pub async fn faults(&mut self, server: PostgresServer<'_>) -> anyhow::Result<()> {
        let postgres = Postgres::new(server.url)?;
        postgres.check().await?;
        let database = postgres
            .fresh_database(&format!("faults_{}", std::process::id()))
            .await?;
        let outcome = self.faults_on(&database.url, server.dir).await;
        if let Err(e) = postgres.drop_database(&database.name).await {
            eprintln!("  could not drop {}: {e:#}", database.name);
        }
        outcome
    }

    async fn faults_on(&mut self, database_url: &str, pg_dir: Option<&Path>) -> anyhow::Result<()> {
        let logs = tempfile::Builder::new().prefix("faults-").tempdir()?.keep();
        let receiver = Receiver::start().await?;
        let mut nodes = Vec::new();
        for n in 0..3 {
            nodes.push(Node::new(
                &self.binary,
                database_url,
                &format!("faults-n{n}"),
                &logs,
            )?);
        }
        nodes[0].start().await?;
        let endpoint: Value = self
            .client
            .post(nodes[0].url("/v1/endpoints"))
            .bearer_auth(KEY)
            .json(
                &json!({"url": format!("http://{}/hook", receiver.addr), "events": ["*"],
                          "ordering": "meeting"}),
            )
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let endpoint_id = endpoint["id"].as_str().unwrap_or_default().to_owned();
        for node in &mut nodes[1..] {
            node.start().await?;
        }
        let meetings = self.n(200);
        let spread = Duration::from_millis(40_000 / meetings as u64);
        let sent = Arc::new(load::Sent::default());
        let ingest: Vec<String> = nodes.iter().map(|n| n.url("/v1/signals")).collect();
        let started = Instant::now();
        let load = tokio::spawn(load::run(
            self.client.clone(),
            ingest,
            format!("f{}", std::process::id()),
            meetings,
            spread,
            sent.clone(),
        ));
        let faults = schedule::run(&mut nodes, database_url, pg_dir).await;
        load.await?;
        let faults = faults?;
        eprintln!(
            "  faults: load done in {:.0} s: {} signals accepted, {} re-sent to another node, \
             {} requests retried elsewhere, {} refused",
            started.elapsed().as_secs_f64(),
            sent.signals.load(Ordering::Relaxed),
            sent.resent.load(Ordering::Relaxed),
            sent.retried.load(Ordering::Relaxed),
            sent.refused.load(Ordering::Relaxed),
        );
        eprintln!("  faults: {faults}");
        let stuck = self.settle(&nodes[0], &endpoint_id).await?;
        let events = self.events(&nodes[0]).await?;
        let verdict = check::verdict(&events, &receiver.attempts(), stuck);
        let row = format!(
            "{} events, {} attempts, {} duplicates, {} overlaps",
            verdict.events, verdict.attempts, verdict.duplicates, verdict.overlaps
        );
        eprintln!("  faults: {row}; node logs in {}", logs.display());
        let mut blamed: std::collections::BTreeMap<&str, usize> = Default::default();
        for at in &verdict.duplicated_at {
            *blamed.entry(faults.blame(*at)).or_default() += 1;
        }
        eprintln!("  faults: messages delivered more than once, by the fault in force: {blamed:?}");
        self.row(
            "faults: 3 nodes, kill -9, SIGSTOP, PostgreSQL restart",
            "events / attempts / duplicates / overlaps",
            row,
            String::new(),
            None,
            "no overlap, loss, gap or stuck message",
            Some(verdict.problems.is_empty()),
        );
        if sent.refused.load(Ordering::Relaxed) > 0 {
            bail!("faults: some signals were never accepted");
        }
        if !verdict.problems.is_empty() {
            for p in &verdict.problems {
                eprintln!("  faults: {p}");
            }
            bail!("faults: {} problems", verdict.problems.len());
        }
        Ok(())
    }

    /// Waits (up to 60 s) until no message of the endpoint is left to go; returns how many are.
    async fn settle(&self, node: &Node, endpoint_id: &str) -> anyhow::Result<usize> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut open = 0;
            for status in [
                "waiting",
                "pending",
                "delivering",
                "failed",
                "exhausted",
                "skipped",
            ] {
                let page: Value = self
                    .client
                    .get(node.url(&format!(
                        "/v1/messages?endpointId={endpoint_id}&status={status}&limit=500"
                    )))
                    .bearer_auth(KEY)
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                open += page["data"].as_array().map_or(0, Vec::len);
            }
            if open == 0 || Instant::now() > deadline {
                return Ok(open);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The whole event log.
    async fn events(&self, node: &Node) -> anyhow::Result<Vec<Event>> {
        let mut events = Vec::new();
        let mut after: Option<String> = None;
        loop {
            // Cursors are plain positions: nothing to escape.
            let path = match &after {
                Some(a) => format!("/v1/events?limit=500&after={a}"),
                None => "/v1/events?limit=500".to_owned(),
            };
            let page: Value = self
                .client
                .get(node.url(&path))
                .bearer_auth(KEY)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let data: Vec<Event> =
                serde_json::from_value(page["data"].clone()).context("reading events")?;
            events.extend(data);
            match page["nextCursor"].as_str() {
                Some(c) => after = Some(c.to_owned()),
                None => return Ok(events),
            }
        }
    }
}
