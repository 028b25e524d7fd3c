//! The fault schedule, run beside the load: `kill -9` and restart, SIGSTOP for longer than a
//! lease (once at a random moment, once while the node holds a meeting's row lock, found
//! through `pg_stat_activity`), and one PostgreSQL restart.

use std::fmt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use super::nodes::{Node, Signal, LEASE};

/// How long a paused node stays frozen: past its leases.
const PAUSE: Duration = Duration::from_millis(LEASE.as_millis() as u64 + 2_000);

/// What the schedule managed to do.
#[derive(Debug, Default)]
pub struct Done {
    pub kills: usize,
    pub pauses: usize,
    /// Whether the timed pause froze a node inside a transaction holding a room lock.
    pub caught_holding_locks: bool,
    pub postgres_restarted: bool,
    /// When each fault began and ended, to tell which one a duplicate came from.
    pub faults: Vec<Fault>,
}

/// One fault of the schedule, from its start until the node or server was back.
#[derive(Debug, Clone)]
pub struct Fault {
    pub what: &'static str,
    pub from: Instant,
    pub until: Instant,
}

impl fmt::Display for Done {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} kill -9, {} pauses of {} s (frozen holding a room lock: {}), PostgreSQL restarted: {}",
            self.kills,
            self.pauses,
            PAUSE.as_secs_f64(),
            self.caught_holding_locks,
            self.postgres_restarted
        )
    }
}

pub async fn run(
    nodes: &mut [Node],
    database_url: &str,
    pg_dir: Option<&Path>,
) -> anyhow::Result<Done> {
    let start = tokio::time::Instant::now();
    let at = |s: u64| tokio::time::sleep_until(start + Duration::from_secs(s));
    let mut done = Done::default();

    at(5).await;
    let from = Instant::now();
    nodes[1].kill9();
    done.kills += 1;
    tokio::time::sleep(Duration::from_secs(2)).await;
    nodes[1].start().await?;
    done.record("kill -9", from);

    at(10).await;
    let from = Instant::now();
    pause(&nodes[2]).await?;
    done.pauses += 1;
    done.record("SIGSTOP", from);

    at(19).await;
    let from = Instant::now();
    done.caught_holding_locks = pause_holding_locks(&nodes[0], database_url).await?;
    done.pauses += 1;
    done.record("SIGSTOP holding a room lock", from);

    at(30).await;
    let from = Instant::now();
    if let Some(dir) = pg_dir {
        let status = Command::new("scripts/postgres")
            .arg("restart")
            .arg(dir)
            .status()
            .await
            .context("running scripts/postgres restart")?;
        if !status.success() {
            bail!("scripts/postgres restart {} failed", dir.display());
        }
        done.postgres_restarted = true;
        done.record("PostgreSQL restart", from);
    }

    at(36).await;
    let from = Instant::now();
    nodes[2].kill9();
    done.kills += 1;
    tokio::time::sleep(Duration::from_secs(1)).await;
    nodes[2].start().await?;
    done.record("kill -9", from);

    at(41).await;
    let from = Instant::now();
    nodes[0].kill9();
    done.kills += 1;
    tokio::time::sleep(Duration::from_secs(1)).await;
    nodes[0].start().await?;
    done.record("kill -9", from);
    Ok(done)
}

impl Done {
    fn record(&mut self, what: &'static str, from: Instant) {
        self.faults.push(Fault {
            what,
            from,
            until: Instant::now(),
        });
    }

    /// Which fault a duplicate whose first success started at `at` came from: the one in
    /// force then, or that began within a lease after it (the success was not yet written).
    pub fn blame(&self, at: Instant) -> &'static str {
        self.faults
            .iter()
            .find(|f| at <= f.until && at + LEASE >= f.from)
            .map_or("no fault", |f| f.what)
    }
}

async fn pause(node: &Node) -> anyhow::Result<()> {
    node.signal(Signal::Stop)?;
    tokio::time::sleep(PAUSE).await;
    node.signal(Signal::Cont)
}

/// Freezes `node` at a moment one of its transactions holds a `rooms` row lock, trying for
/// up to 10 s; then keeps it frozen for `PAUSE`. `true` when the lock was still held after
/// the freeze (the node was caught inside the transaction).
async fn pause_holding_locks(node: &Node, database_url: &str) -> anyhow::Result<bool> {
    let mut watch = Watch::open(database_url).await?;
    let query = format!(
        "SELECT count(*) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
         WHERE a.application_name = '{}' AND a.xact_start IS NOT NULL AND l.granted
           AND l.relation = 'rooms'::regclass AND l.mode = 'RowShareLock';",
        node.name
    )
    .replace('\n', " ");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if watch.count(&query).await? == 0 {
            continue;
        }
        node.signal(Signal::Stop)?;
        // Frozen now; the server finishes the statement it was running, then waits for us.
        tokio::time::sleep(Duration::from_millis(50)).await;
        if watch.count(&query).await? > 0 {
            tokio::time::sleep(PAUSE).await;
            node.signal(Signal::Cont)?;
            return Ok(true);
        }
        node.signal(Signal::Cont)?;
    }
    // Never caught inside: pause it anyway, so the run still has the pause.
    pause(node).await?;
    Ok(false)
}

/// One `psql` session kept open, so `pg_stat_activity` can be polled every millisecond.
struct Watch {
    _child: Child,
    stdin: ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Watch {
    async fn open(database_url: &str) -> anyhow::Result<Watch> {
        let mut child = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-d", database_url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("running psql")?;
        let stdin = child.stdin.take().context("psql stdin")?;
        let stdout = child.stdout.take().context("psql stdout")?;
        Ok(Watch {
            _child: child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        })
    }

    async fn count(&mut self, query: &str) -> anyhow::Result<u64> {
        self.stdin.write_all(query.as_bytes()).await?;
        self.stdin.write_all(b"\n").await?;
        self.stdin.flush().await?;
        let line = self.lines.next_line().await?.context("psql ended")?;
        line.trim()
            .parse()
            .with_context(|| format!("psql said {line:?}"))
    }
}
