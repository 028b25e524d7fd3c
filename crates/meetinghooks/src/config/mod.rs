//! Configuration: the settings, their defaults and the rules between them.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod duration;
mod load;
pub use duration::{duration_list, duration_text};
pub use load::{ConfigError, Loaded, CLIENT_VARIABLES};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address `serve` listens on.
    pub listen: SocketAddr,
    /// `sqlite://PATH` for one node, or `postgres://USER:PASSWORD@HOST:PORT/DB` for a cluster.
    pub database_url: String,
    /// PostgreSQL connections this node may open.
    pub database_max_connections: usize,
    /// PostgreSQL: the longest any statement may run (migrations excepted).
    #[serde(with = "duration_text")]
    pub database_statement_timeout: Duration,
    /// PostgreSQL: a transaction left idle this long (its node frozen or cut off) is ended
    /// by the server, which releases its meetings' locks.
    #[serde(with = "duration_text")]
    pub database_idle_in_transaction_timeout: Duration,
    /// PostgreSQL: how long writing outcomes waits for a meeting's or endpoint's lock before
    /// it splits its batch by meeting and tries again.
    #[serde(with = "duration_text")]
    pub database_lock_timeout: Duration,
    /// Finished messages and their attempts are deleted after this many days.
    pub retention_days: u32,
    /// A signal id re-sent within this window is a duplicate; after it, its record is
    /// deleted and the id is new again.
    #[serde(with = "duration_text")]
    pub signal_dedup_window: Duration,
    /// How long a disconnected participant may take to come back before `participant-left`.
    #[serde(with = "duration_text")]
    pub reconnect_grace: Duration,
    /// When set, `serve` makes sure the `default` project accepts this API key.
    pub bootstrap_api_key: Option<Secret>,
    /// 32 bytes in base64 that seal signing secrets and header values at rest. Required on
    /// PostgreSQL (every node the same); on SQLite, when unset, `serve` keeps one in
    /// `secret.key` next to the database (created with mode 0600).
    pub secret_key: Option<Secret>,
    /// Keys that only open: after a key change, the first start re-seals with `secret_key`.
    pub previous_secret_keys: Vec<Secret>,
    /// `tracing` filter, e.g. `info` or `meetinghooks=debug`.
    pub log: String,
    /// `text` (coloured on a terminal) or `json` (one object per line).
    pub log_format: LogFormat,

    /// Delay before each attempt: the first is normally 0 (at once).
    #[serde(with = "duration_list")]
    pub retry_schedule: Vec<Duration>,
    /// Each retry delay is moved by up to ± this fraction.
    pub retry_jitter: f64,
    /// Whole request, 1-30 s; endpoints may set their own.
    #[serde(with = "duration_text")]
    pub request_timeout: Duration,
    #[serde(with = "duration_text")]
    pub connect_timeout: Duration,
    /// Attempts in flight per endpoint.
    pub endpoint_concurrency: usize,
    /// Attempts in flight in this process.
    pub global_concurrency: usize,
    /// An endpoint with no success for this long is disabled.
    #[serde(with = "duration_text")]
    pub auto_disable_after: Duration,
    /// How long a rotated-out secret keeps signing beside the new one.
    #[serde(with = "duration_text")]
    pub secret_rotation_overlap: Duration,
    /// CIDR ranges exempt from the SSRF guard, for development (e.g. `127.0.0.0/8`).
    pub allowed_private_targets: Vec<String>,
    /// How long a node holds a message it is delivering. Another node takes it over after
    /// this, so every attempt's timeout is capped at half of it.
    #[serde(with = "duration_text")]
    pub lease_duration: Duration,
    /// On SIGTERM, how long in-flight attempts may take to finish.
    #[serde(with = "duration_text")]
    pub shutdown_grace: Duration,
    /// Safety net: the dispatcher reloads endpoints this often even if no change was announced.
    #[serde(with = "duration_text")]
    pub endpoint_refresh: Duration,
    /// Safety net on PostgreSQL: an idle node looks for work this often even if no other
    /// node's change was heard (a node may die between its commit and its NOTIFY).
    #[serde(with = "duration_text")]
    pub shared_poll: Duration,

    /// A request's head must be complete this long after its first byte.
    #[serde(with = "duration_text")]
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and no byte received is closed after this.
    #[serde(with = "duration_text")]
    pub idle_timeout: Duration,
    /// A whole API request, body included, from its head to its answer.
    #[serde(with = "duration_text")]
    pub api_request_timeout: Duration,
    /// Open API connections at most (lowered at start to fit the descriptor limit).
    pub max_connections: usize,
    /// Largest request body, in bytes, on every route but `POST /v1/signals`.
    pub body_limit: usize,
    /// Largest body of `POST /v1/signals`, in bytes.
    pub signals_body_limit: usize,
    /// A signal's `at` may be at most this old.
    #[serde(with = "duration_text")]
    pub signal_max_age: Duration,
    /// A signal's `at` may be at most this far ahead of the clock.
    #[serde(with = "duration_text")]
    pub signal_max_ahead: Duration,
    /// API requests per second per key (token bucket); 0 turns the limit off.
    pub api_rate_limit: u32,
    /// Requests a key may send at once above the steady rate.
    pub api_rate_burst: u32,
    /// Address of `/metrics`, apart from the API; empty turns it off.
    pub metrics_listen: MetricsListen,
}

/// Where `/metrics` is served, if anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsListen(pub Option<SocketAddr>);

impl Serialize for MetricsListen {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(addr) => s.serialize_str(&addr.to_string()),
            None => s.serialize_str(""),
        }
    }
}

impl<'de> Deserialize<'de> for MetricsListen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim().is_empty() {
            return Ok(MetricsListen(None));
        }
        text.trim()
            .parse()
            .map(|a| MetricsListen(Some(a)))
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "{text:?} is not an address such as \"127.0.0.1:9464\" (or \"\" for none)"
                ))
            })
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: ([127, 0, 0, 1], 8080).into(),
            database_url: "sqlite://./data/meetinghooks.db".into(),
            database_max_connections: 16,
            database_statement_timeout: Duration::from_secs(10),
            database_idle_in_transaction_timeout: Duration::from_secs(10),
            database_lock_timeout: Duration::from_secs(2),
            retention_days: 30,
            signal_dedup_window: Duration::from_secs(7 * 86_400),
            reconnect_grace: Duration::from_secs(10),
            bootstrap_api_key: None,
            secret_key: None,
            previous_secret_keys: Vec::new(),
            log: "info".into(),
            log_format: LogFormat::Text,
            retry_schedule: crate::delivery::schedule::default_schedule(),
            retry_jitter: 0.2,
            request_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            endpoint_concurrency: 64,
            global_concurrency: 1024,
            auto_disable_after: Duration::from_secs(5 * 86_400),
            secret_rotation_overlap: Duration::from_secs(86_400),
            allowed_private_targets: Vec::new(),
            lease_duration: Duration::from_secs(90),
            shutdown_grace: Duration::from_secs(10),
            endpoint_refresh: Duration::from_secs(60),
            shared_poll: Duration::from_secs(5),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            api_request_timeout: Duration::from_secs(30),
            max_connections: 4096,
            body_limit: 256 * 1024,
            signals_body_limit: 1024 * 1024,
            signal_max_age: Duration::from_secs(86_400),
            signal_max_ahead: Duration::from_secs(300),
            api_rate_limit: 1000,
            api_rate_burst: 2000,
            metrics_listen: MetricsListen(Some(([127, 0, 0, 1], 9464).into())),
        }
    }
}

/// How `serve` writes its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines; coloured only when written to a terminal.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl Config {
    /// The names of every setting, as written in a file.
    pub fn keys() -> Vec<String> {
        match serde_json::to_value(Config::default()) {
            Ok(serde_json::Value::Object(map)) => map.into_iter().map(|(k, _)| k).collect(),
            _ => Vec::new(),
        }
    }

    /// Checks the rules between values; an error lists every broken one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, problem: &str| {
            if !ok {
                problems.push(problem.to_owned());
            }
        };
        match self.database() {
            Some(Database::Postgres) => {
                let parsed = crate::store::postgres::tls::split_url(&self.database_url).and_then(
                    |(url, _)| tokio_postgres::Config::from_str(&url).map_err(|e| e.to_string()),
                );
                if let Err(e) = parsed {
                    check(
                        false,
                        &format!("database_url {}: {e}", self.redacted_database_url()),
                    );
                }
            }
            Some(Database::Sqlite) => {}
            None => check(
                false,
                &format!(
                    "database_url must be sqlite://PATH or postgres://..., got {:?}",
                    self.redacted_database_url()
                ),
            ),
        }
        check(
            self.database_max_connections > 0,
            "database_max_connections must be at least 1",
        );
        check(self.retention_days > 0, "retention_days must be at least 1");
        check(
            self.signal_dedup_window >= Duration::from_secs(1),
            "signal_dedup_window must be at least 1s",
        );
        check(
            self.reconnect_grace <= Duration::from_secs(24 * 3600),
            "reconnect_grace must be at most 24h",
        );
        check(
            !self.retry_schedule.is_empty(),
            "retry_schedule needs at least one entry",
        );
        check(
            (0.0..1.0).contains(&self.retry_jitter),
            "retry_jitter must be in [0, 1)",
        );
        check(
            (Duration::from_secs(1)..=Duration::from_secs(30)).contains(&self.request_timeout),
            "request_timeout must be 1s-30s",
        );
        check(
            self.lease_duration >= self.request_timeout * 2,
            "lease_duration must be at least twice request_timeout",
        );
        // A frozen node's locks and a blocked outcome batch must come free well within a
        // lease, so healthy nodes write their outcomes before their own leases end.
        for (name, limit) in [
            (
                "database_statement_timeout",
                self.database_statement_timeout,
            ),
            (
                "database_idle_in_transaction_timeout",
                self.database_idle_in_transaction_timeout,
            ),
            ("database_lock_timeout", self.database_lock_timeout),
        ] {
            check(
                limit >= Duration::from_millis(100) && limit * 3 <= self.lease_duration,
                &format!("{name} must be at least 100ms and at most a third of lease_duration"),
            );
        }
        check(
            self.endpoint_refresh >= Duration::from_secs(1),
            "endpoint_refresh must be at least 1s",
        );
        check(
            self.shared_poll >= Duration::from_millis(10),
            "shared_poll must be at least 10ms",
        );
        check(
            self.endpoint_concurrency > 0,
            "endpoint_concurrency must be at least 1",
        );
        check(
            self.global_concurrency > 0,
            "global_concurrency must be at least 1",
        );
        check(
            (Duration::from_millis(100)..=Duration::from_secs(300))
                .contains(&self.header_read_timeout),
            "header_read_timeout must be 100ms-5m",
        );
        check(
            (Duration::from_millis(100)..=Duration::from_secs(3600)).contains(&self.idle_timeout),
            "idle_timeout must be 100ms-1h",
        );
        check(
            (Duration::from_millis(100)..=Duration::from_secs(600))
                .contains(&self.api_request_timeout),
            "api_request_timeout must be 100ms-10m",
        );
        check(
            (16..=1_000_000).contains(&self.max_connections),
            "max_connections must be 16-1000000",
        );
        check(
            (1024..=64 * 1024 * 1024).contains(&self.body_limit),
            "body_limit must be 1024-67108864 bytes",
        );
        check(
            (1024..=64 * 1024 * 1024).contains(&self.signals_body_limit),
            "signals_body_limit must be 1024-67108864 bytes",
        );
        check(
            self.signal_max_age >= Duration::from_secs(60),
            "signal_max_age must be at least 1m",
        );
        check(
            self.api_rate_limit == 0 || self.api_rate_burst >= 1,
            "api_rate_burst must be at least 1 when api_rate_limit is on",
        );
        check(
            self.metrics_listen.0.is_none_or(|m| m != self.listen),
            "metrics_listen must differ from listen",
        );
        if let Err(e) = crate::delivery::ssrf::SsrfPolicy::new(&self.allowed_private_targets) {
            check(false, &format!("allowed_private_targets: {e}"));
        }
        check(
            self.secret_key.is_some() || self.database() != Some(Database::Postgres),
            "secret_key is required with PostgreSQL (every node must use the same key; \
             make one with `meetinghooks secret-key`)",
        );
        let keys = self.secret_key.iter().chain(&self.previous_secret_keys);
        for (place, key) in keys.enumerate() {
            check(
                crate::sealing::parse_key(&key.0).is_some(),
                &if place == 0 && self.secret_key.is_some() {
                    "secret_key must be 32 bytes in base64".to_owned()
                } else {
                    "previous_secret_keys: every key must be 32 bytes in base64".to_owned()
                },
            );
        }
        if let Some(key) = &self.bootstrap_api_key {
            check(
                key.0.len() >= 16,
                "bootstrap_api_key must be at least 16 characters",
            );
        }
        problems
    }
}

/// Which store a `database_url` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    Sqlite,
    Postgres,
}

impl Config {
    pub fn database(&self) -> Option<Database> {
        let url = &self.database_url;
        if url.starts_with("sqlite://") {
            Some(Database::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Database::Postgres)
        } else {
            None
        }
    }

    /// The folder of an SQLite database, where its key file lives.
    pub fn sqlite_folder(&self) -> Option<std::path::PathBuf> {
        let path = std::path::Path::new(self.database_url.strip_prefix("sqlite://")?);
        Some(match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        })
    }

    /// The database URL without its password, for messages and logs.
    pub fn redacted_database_url(&self) -> String {
        let url = &self.database_url;
        let Some((scheme, rest)) = url.split_once("://") else {
            return "<unparsable>".into();
        };
        match rest.split_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => url.clone(),
            },
            None => url.clone(),
        }
    }
}

/// A value that is never printed, so configuration can be logged safely.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl Config {
    /// What PostgreSQL sessions run under.
    pub fn session_limits(&self) -> crate::store::postgres::SessionLimits {
        crate::store::postgres::SessionLimits {
            statement_timeout: self.database_statement_timeout,
            idle_in_transaction: self.database_idle_in_transaction_timeout,
            lock_timeout: self.database_lock_timeout,
        }
    }

    pub fn delivery(&self) -> crate::delivery::DeliveryConfig {
        crate::delivery::DeliveryConfig {
            retry_schedule: self.retry_schedule.clone(),
            jitter: self.retry_jitter,
            request_timeout: self.request_timeout,
            connect_timeout: self.connect_timeout,
            endpoint_concurrency: self.endpoint_concurrency,
            global_concurrency: self.global_concurrency,
            auto_disable_after: self.auto_disable_after,
            lease_duration: self.lease_duration,
            shutdown_grace: self.shutdown_grace,
            endpoint_refresh: self.endpoint_refresh,
            shared_poll: self.shared_poll,
        }
    }
}

#[cfg(test)]
mod tests;
