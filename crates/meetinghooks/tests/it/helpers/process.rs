//! Real processes for end-to-end tests: `serve`, `listen` and the client commands, and
//! reading what they print.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{apps_on_postgres, database_url, eventually, TestApp, KEY, SECRET_KEY, TEST_DEADLINE};

/// A port that was just free and has nobody listening on it now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A client command (`endpoints`, `simulate`…) with the app's URL and key in the environment,
/// as an operator would set them.
pub fn client_command(app: &TestApp, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary_path());
    command
        .args(args)
        .env("MEETINGHOOKS_URL", app.url(""))
        .env("MEETINGHOOKS_API_KEY", KEY)
        .kill_on_drop(true);
    command
}

/// What a finished process wrote to standard error.
pub fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// What every test server gets: the tests' signals carry fixed times from the past, and many
/// servers run at once, so none takes the default metrics port.
pub const OLD_SIGNALS_NO_METRICS: [(&str, &str); 2] = [
    ("MEETINGHOOKS_SIGNAL_MAX_AGE", "3650d"),
    ("MEETINGHOOKS_METRICS_LISTEN", ""),
];

/// The compiled `meetinghooks` binary, run as a real process.
pub struct Binary {
    pub child: Child,
    pub addr: SocketAddr,
}

pub fn binary_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_meetinghooks"))
}

impl Binary {
    /// Starts `meetinghooks serve` on a free port with its database in `dir`.
    pub fn serve(dir: &Path, extra_env: &[(&str, &str)]) -> Binary {
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut command = Command::new(binary_path());
        if apps_on_postgres() {
            command.env("MEETINGHOOKS_SECRET_KEY", SECRET_KEY);
        }
        let child = command
            .args(["serve", "--listen", &addr.to_string()])
            .env("MEETINGHOOKS_DATABASE_URL", database_url(dir))
            .env("MEETINGHOOKS_BOOTSTRAP_API_KEY", KEY)
            .env("MEETINGHOOKS_LOG", "warn")
            .envs(OLD_SIGNALS_NO_METRICS)
            .envs(extra_env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Binary { child, addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn wait_ready(&self, client: &reqwest::Client) {
        eventually("the binary is ready", || async {
            client
                .get(self.url("/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The next line that `check` accepts, failing the test after `TEST_DEADLINE`.
pub async fn line_where<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut tokio::io::Lines<R>,
    what: &str,
    check: impl Fn(&str) -> bool,
) -> String {
    let found = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if check(&line) {
                return line;
            }
        }
        panic!("the output ended before {what}");
    };
    tokio::time::timeout(TEST_DEADLINE, found)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// `meetinghooks listen` as a real process, its standard output read line by line.
pub struct Listen {
    pub child: tokio::process::Child,
    pub lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    /// What it said on starting: the address and whether it verifies.
    pub first_line: String,
}

impl Listen {
    /// The webhook types `listen` printed as verified (`✓ type …`), up to and including
    /// `session-ended`; a rejected delivery (`✗`) fails the test.
    pub async fn verified_until_session_ended(&mut self, what: &str) -> Vec<String> {
        let mut seen = Vec::new();
        let read = async {
            while let Some(line) = self.lines.next_line().await.unwrap() {
                assert!(!line.starts_with('✗'), "a delivery was rejected: {line}");
                if let Some(rest) = line.strip_prefix("✓ ") {
                    let kind = rest.split_whitespace().next().unwrap().to_owned();
                    let done = kind == "session-ended";
                    seen.push(kind);
                    if done {
                        break;
                    }
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(20), read)
            .await
            .unwrap_or_else(|_| panic!("{what}"));
        seen
    }

    /// Starts `listen` on `port` with `secret` and waits until it listens.
    pub async fn start(port: u16, secret: &str) -> Listen {
        Listen::start_with(port, &["--secret", secret]).await
    }

    /// Starts `listen` on `port` with other options and waits until it listens.
    pub async fn start_with(port: u16, options: &[&str]) -> Listen {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(binary_path())
            .args(["listen", "--port", &port.to_string()])
            .args(options)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first_line = line_where(&mut lines, "listen to start", |l| {
            l.contains("listening on")
        })
        .await;
        Listen {
            child,
            lines,
            first_line,
        }
    }
}
