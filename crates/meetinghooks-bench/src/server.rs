//! The system under test: the real `meetinghooks` binary on a fresh SQLite file (or on a
//! PostgreSQL database it may share with other nodes), as shipped, and a small client for its
//! API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// `sysconf(_SC_CLK_TCK)` on Linux.
const CLOCK_TICKS: f64 = 100.0;

pub const KEY: &str = "bench-key-0123456789abcdef";

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `meetinghooks serve` on a free port with its SQLite database in `dir`.
    pub async fn start(binary: &Path, dir: &Path) -> anyhow::Result<Server> {
        Self::start_on_database(binary, &sqlite_url(dir)).await
    }

    /// Starts `meetinghooks serve` on a free port with `MEETINGHOOKS_DATABASE_URL` set to
    /// `database_url` (`sqlite://…` or `postgres://…`).
    pub async fn start_on_database(binary: &Path, database_url: &str) -> anyhow::Result<Server> {
        Self::start_with(binary, database_url, &[]).await
    }

    /// As `start_on_database`, with more `MEETINGHOOKS_*` settings.
    pub async fn start_with(
        binary: &Path,
        database_url: &str,
        settings: &[(&str, &str)],
    ) -> anyhow::Result<Server> {
        let addr = free_addr()?;
        let mut command = Command::new(binary);
        // The load is one API key sending as fast as it can: no per-key rate limit. A binary
        // older than that setting refuses it; `MH_BENCH_OLD_BINARY` leaves it out.
        if std::env::var_os("MH_BENCH_OLD_BINARY").is_none() {
            command.env("MEETINGHOOKS_API_RATE_LIMIT", "0");
        }
        let child = command
            .args(["serve", "--listen", &addr.to_string()])
            .env("MEETINGHOOKS_DATABASE_URL", database_url)
            // Nodes of one cluster must share it; PostgreSQL requires one.
            .env("MEETINGHOOKS_SECRET_KEY", SECRET_KEY)
            .env("MEETINGHOOKS_BOOTSTRAP_API_KEY", KEY)
            .env("MEETINGHOOKS_LOG", "warn")
            .env("MEETINGHOOKS_ALLOWED_PRIVATE_TARGETS", "[\"127.0.0.0/8\"]")
            // Retries every second, so a backlog drains at delivery speed, not retry speed.
            .env(
                "MEETINGHOOKS_RETRY_SCHEDULE",
                format!("[\"0s\"{}]", ", \"1s\"".repeat(30)),
            )
            .envs(settings.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = Server { child, addr };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = client.get(server.url("/readyz")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                bail!("meetinghooks exited at start ({status}); its error is above");
            }
            if Instant::now() > deadline {
                bail!("meetinghooks did not become ready");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set size in MiB (VmHWM).
    pub fn peak_rss_mib(&self) -> f64 {
        proc_status_kib(self.pid(), "VmHWM:") as f64 / 1024.0
    }

    /// CPU time the process used so far (user and system), from `/proc/PID/stat`.
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the command name, which ends with the last ')'.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // utime and stime are the 14th and 15th fields, 12th and 13th after the name.
        (ticks(11) + ticks(12)) as f64 / CLOCK_TICKS
    }

    /// Current resident set size in MiB.
    pub fn rss_mib(&self) -> f64 {
        proc_status_kib(self.pid(), "VmRSS:") as f64 / 1024.0
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

pub fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("meetinghooks.db")
}

/// The `secret_key` every benchmark server is started with.
pub const SECRET_KEY: &str = "4d5mOkDw3rd1IT/Y7VvAyDBJxR4mDtK7jHDqTtZ06Ig=";

/// The `database_url` of a fresh SQLite file in `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", db_path(dir).display())
}

/// Bytes of the database with its WAL.
pub fn db_bytes(dir: &Path) -> u64 {
    ["meetinghooks.db", "meetinghooks.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// Creates one endpoint per URL and returns their ids.
pub async fn create_endpoints(
    client: &reqwest::Client,
    server: &Server,
    urls: &[String],
    ordering: &str,
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::with_capacity(urls.len());
    for url in urls {
        let response: Value = client
            .post(server.url("/v1/endpoints"))
            .bearer_auth(KEY)
            .json(&json!({"url": url, "events": ["participant-joined"], "ordering": ordering}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        ids.push(response["id"].as_str().unwrap_or_default().to_owned());
    }
    Ok(ids)
}
