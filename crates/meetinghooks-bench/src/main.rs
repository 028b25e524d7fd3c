//! `meetinghooks-bench`: runs the benchmark scenarios against the real binary and the
//! built-in no-durability forwarder in one run, and prints a table.

mod cluster;
mod faults;
mod forwarder;
mod load;
mod postgres;
mod receiver;
mod report;
mod scenarios;
mod server;
mod stats;
mod wake;

use std::path::PathBuf;

use anyhow::bail;
use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    All,
    Throughput,
    /// One signal per request, 32 requests in flight.
    Single,
    /// The throughput load on 1,000 of 100,000 rooms with their own webhook, beside 1,000
    /// more endpoints, against the same load with none.
    ManyRooms,
    Latency,
    Fanout,
    Isolation,
    Backlog,
    Recovery,
    /// SQLite on one node, then 1, 2 and 3 nodes sharing one PostgreSQL database
    /// (needs --postgres-url; skipped without it).
    Cluster,
    Idle,
    /// 1,000 signals, asserting nothing is missing; no timings asserted (CI).
    Smoke,
    /// Three nodes on PostgreSQL through kill -9, SIGSTOP and a PostgreSQL restart; fails on
    /// overlapping attempts, loss, gaps or stuck messages (needs --postgres-url; CI).
    Faults,
}

#[derive(Parser)]
#[command(about = "Benchmarks meetinghooks against a no-durability ceiling in one run")]
struct Args {
    #[arg(value_enum, default_value = "all")]
    scenario: Scenario,
    /// The meetinghooks binary (build it with `cargo build --release -p meetinghooks`).
    #[arg(long, default_value = "target/release/meetinghooks")]
    binary: PathBuf,
    /// Multiplies every count and duration, e.g. 0.1 for a quick run.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// An admin DSN of a PostgreSQL server for the cluster scenario, e.g.
    /// `postgres://postgres@127.0.0.1:5432/postgres`; it creates (and drops) one `bench_*`
    /// database per configuration. Without it, the cluster scenario is skipped.
    #[arg(long, env = "MEETINGHOOKS_BENCH_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// The folder of the `scripts/postgres` server behind --postgres-url, so the faults
    /// scenario can restart it; without it, that fault is left out.
    #[arg(long)]
    postgres_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.binary.exists() {
        bail!(
            "{} not found; build it with `cargo build --release -p meetinghooks`",
            args.binary.display()
        );
    }
    let mut bench = scenarios::Bench::new(args.binary.clone(), args.scale)?;
    let started = std::time::Instant::now();
    if args.scenario == Scenario::Smoke {
        let ok = bench.smoke().await?;
        println!("{}", report::table(&bench.rows));
        if !ok {
            bail!("smoke: messages are missing");
        }
        return Ok(());
    }
    if args.scenario == Scenario::Faults {
        let Some(url) = args.postgres_url.as_deref() else {
            bail!("faults needs --postgres-url (or MEETINGHOOKS_BENCH_POSTGRES_URL)");
        };
        let server = faults::PostgresServer {
            url,
            dir: args.postgres_dir.as_deref(),
        };
        let outcome = bench.faults(server).await;
        println!("{}", report::table(&bench.rows));
        return outcome;
    }
    let outcome = run(&mut bench, &args).await;
    // The rows measured so far are printed even when a later scenario failed.
    println!("{}", report::table(&bench.rows));
    eprintln!("ran in {:.0} s", started.elapsed().as_secs_f64());
    outcome
}

async fn run(bench: &mut scenarios::Bench, args: &Args) -> anyhow::Result<()> {
    let all = args.scenario == Scenario::All;
    if all || args.scenario == Scenario::Idle {
        bench.idle().await?;
    }
    if all || args.scenario == Scenario::Throughput {
        bench.throughput().await?;
    }
    if all || args.scenario == Scenario::Single {
        bench.single().await?;
    }
    if all || args.scenario == Scenario::Latency {
        bench.latency().await?;
    }
    if all || args.scenario == Scenario::Fanout {
        bench.fanout().await?;
    }
    if all || args.scenario == Scenario::Isolation {
        bench.isolation().await?;
    }
    if all || args.scenario == Scenario::Backlog {
        bench.backlog().await?;
    }
    if all || args.scenario == Scenario::Recovery {
        bench.recovery().await?;
    }
    if all || args.scenario == Scenario::ManyRooms {
        bench.many_rooms().await?;
    }
    if all || args.scenario == Scenario::Cluster {
        bench.cluster(args.postgres_url.as_deref()).await?;
    }
    Ok(())
}
