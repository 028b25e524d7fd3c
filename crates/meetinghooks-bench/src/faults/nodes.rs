//! The nodes of the fault scenario: real `meetinghooks serve` processes sharing one
//! PostgreSQL database, each on a fixed address so it can be killed and started again in
//! place, and frozen with SIGSTOP.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::server::{free_addr, KEY, SECRET_KEY};

/// How long a node holds a message; short, so pauses longer than a lease fit in a short run.
pub const LEASE: Duration = Duration::from_secs(6);
/// Each attempt's timeout (the shortest the configuration allows).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

pub struct Node {
    pub name: String,
    pub addr: SocketAddr,
    binary: PathBuf,
    database_url: String,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// A node named `name` (also its PostgreSQL `application_name`), not started yet.
    pub fn new(binary: &Path, database_url: &str, name: &str, logs: &Path) -> anyhow::Result<Node> {
        let separator = if database_url.contains('?') { '&' } else { '?' };
        Ok(Node {
            name: name.to_owned(),
            addr: free_addr()?,
            binary: binary.to_owned(),
            database_url: format!("{database_url}{separator}application_name={name}"),
            log: logs.join(format!("{name}.log")),
            child: None,
        })
    }

    /// Starts the process (its log appended to `<name>.log`) and waits until it is ready.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let log = File::options().create(true).append(true).open(&self.log)?;
        let child = Command::new(&self.binary)
            .args(["serve", "--listen", &self.addr.to_string()])
            .env("MEETINGHOOKS_DATABASE_URL", &self.database_url)
            .env("MEETINGHOOKS_SECRET_KEY", SECRET_KEY)
            .env("MEETINGHOOKS_BOOTSTRAP_API_KEY", KEY)
            .env("MEETINGHOOKS_LOG", "warn")
            .env("MEETINGHOOKS_ALLOWED_PRIVATE_TARGETS", "[\"127.0.0.0/8\"]")
            .env(
                "MEETINGHOOKS_LEASE_DURATION",
                format!("{}s", LEASE.as_secs()),
            )
            .env(
                "MEETINGHOOKS_REQUEST_TIMEOUT",
                format!("{}s", REQUEST_TIMEOUT.as_secs()),
            )
            .env("MEETINGHOOKS_SHARED_POLL", "1s")
            // A third of the lease at most, as the configuration requires.
            .env("MEETINGHOOKS_DATABASE_STATEMENT_TIMEOUT", "2s")
            .env("MEETINGHOOKS_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT", "2s")
            .env("MEETINGHOOKS_DATABASE_LOCK_TIMEOUT", "1s")
            .env(
                "MEETINGHOOKS_RETRY_SCHEDULE",
                format!("[\"0s\"{}]", ", \"1s\"".repeat(30)),
            )
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = client.get(self.url("/readyz")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "{} exited at start ({status}); see {}",
                    self.name,
                    self.log.display()
                );
            }
            if Instant::now() > deadline {
                bail!("{} did not become ready", self.name);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `kill -9`: no shutdown, no drain, leases left behind.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the process (SIGSTOP) or lets it run on (SIGCONT).
    pub fn signal(&self, signal: Signal) -> anyhow::Result<()> {
        let Some(child) = &self.child else {
            bail!("{} is not running", self.name);
        };
        let status = Command::new("kill")
            .arg(signal.flag())
            .arg(child.id().to_string())
            .status()?;
        if !status.success() {
            bail!("kill {} {} failed", signal.flag(), self.name);
        }
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too; CONT first so none is left frozen if it fails.
        let _ = self.signal(Signal::Cont);
        self.kill9();
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Signal {
    Stop,
    Cont,
}

impl Signal {
    fn flag(self) -> &'static str {
        match self {
            Signal::Stop => "-STOP",
            Signal::Cont => "-CONT",
        }
    }
}
