//! `run`: wires the store, the timer driver and the HTTP API, and serves until shutdown.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::api::{self, ApiLimits, AppState, RateLimiter};
use crate::config::{Config, Database, MetricsListen};
use crate::delivery::ssrf::SsrfPolicy;
use crate::delivery::Dispatcher;
use crate::domain::ids::sha256;
use crate::domain::timestamp::Timestamp;
use crate::engine::EngineConfig;
use crate::retention;
use crate::sealing::{parse_key, Sealer, KEY_FILE};
use crate::server::{self, ConnectionLimits, FdBudget, FdDemand};
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::Store;
use crate::telemetry;
use crate::timers;

/// Name of the project that `bootstrap_api_key` opens.
pub const DEFAULT_PROJECT: &str = "default";

/// Serves the API on `listener` until `shutdown` completes, then drains and returns.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // First: a limit too low to serve is refused before anything is opened.
    let (limits, budget) = connection_limits(&config)?;
    let store = open_store(&config).await?;
    if let Some(key) = &config.bootstrap_api_key {
        store
            .ensure_project_key(DEFAULT_PROJECT, sha256(key.0.as_bytes()))
            .await
            .context("creating the bootstrap project")?;
    }
    let policy =
        Arc::new(SsrfPolicy::new(&config.allowed_private_targets).map_err(|e| anyhow::anyhow!(e))?);
    let mut delivery = config.delivery();
    delivery.global_concurrency = budget.deliveries;
    let dispatcher = Dispatcher::new(store.clone(), delivery, policy)?;
    if !store.shared() {
        // One node owns this database: leases of a previous process are void. On a shared
        // store they may be another node's, and expire instead.
        let released = store.release_leases(Timestamp::now()).await?;
        if released > 0 {
            tracing::info!(
                released,
                "re-queued messages that were in flight at the last stop"
            );
        }
    }
    let (stop, stopped) = watch::channel(false);
    let timer_task = tokio::spawn(timers::run(store.clone(), stopped.clone()));
    let dispatch_task = tokio::spawn(dispatcher.clone().run(stopped.clone()));
    let retention_task = tokio::spawn(retention::run(
        store.clone(),
        retention::RetentionPolicy {
            retention_days: config.retention_days,
            signal_dedup_window: config.signal_dedup_window,
        },
        stopped.clone(),
    ));
    // Off the start path: projects without an RSA key (the bootstrap one, older ones) get one.
    let rsa_task = tokio::spawn(crate::videosdk::ensure_all_project_keys(
        store.clone(),
        stopped.clone(),
    ));
    let sampler_task = tokio::spawn(telemetry::sample(store.clone(), stopped));

    let metrics = telemetry::prometheus();
    let state = AppState::new(
        store,
        dispatcher,
        config.secret_rotation_overlap.as_millis() as i64,
        metrics.clone(),
        ApiLimits::of(&config),
        RateLimiter::new(config.api_rate_limit, config.api_rate_burst),
    );
    tracing::info!(
        addr = %listener.local_addr()?,
        max_connections = limits.max_connections,
        "meetinghooks listening"
    );
    let (metrics_stop, metrics_stopped) = watch::channel(false);
    let metrics_task = tokio::spawn(serve_metrics(
        config.metrics_listen,
        metrics,
        metrics_stopped,
    ));
    // What `serve -v` adds first: the settings in force, without secrets.
    tracing::debug!(
        database = %config.redacted_database_url(),
        reconnect_grace = ?config.reconnect_grace,
        retry_schedule = ?config.retry_schedule,
        request_timeout = ?config.request_timeout,
        lease_duration = ?config.lease_duration,
        allowed_private_targets = ?config.allowed_private_targets,
        "configuration in force"
    );
    server::serve(listener, api::router(state), limits, shutdown).await;

    // No new work is accepted now; in-flight attempts get the shutdown grace.
    let _ = stop.send(true);
    let _ = metrics_stop.send(true);
    let _ = metrics_task.await;
    let _ = timer_task.await;
    let _ = dispatch_task.await;
    let _ = sampler_task.await;
    let _ = retention_task.await;
    // Its last key is written before the store closes, never sealed after a later start.
    let _ = rsa_task.await;
    tracing::info!("meetinghooks stopped");
    Ok(())
}

/// The connection limits in force: the cap, and the delivery sockets, lowered if need be to
/// fit the open-files limit after raising it as far as allowed; too low a limit is an error.
fn connection_limits(config: &Config) -> anyhow::Result<(ConnectionLimits, FdBudget)> {
    let soft_limit = server::raise_nofile_limit();
    let demand = FdDemand {
        configured: config.max_connections,
        deliveries: config.global_concurrency,
        database: config.database_max_connections,
    };
    let budget = server::fd_budget(demand, soft_limit)?;
    if budget.max_connections < config.max_connections
        || budget.deliveries < config.global_concurrency
    {
        tracing::warn!(
            max_connections = budget.max_connections,
            global_concurrency = budget.deliveries,
            open_files_limit = soft_limit,
            "max_connections and global_concurrency lowered to fit the open-files limit"
        );
    }
    let limits = ConnectionLimits {
        header_read_timeout: config.header_read_timeout,
        idle_timeout: config.idle_timeout,
        max_connections: budget.max_connections,
        drain_grace: config.shutdown_grace,
    };
    Ok((limits, budget))
}

/// Serves `/metrics` on its own address until `stopped`. A port already taken is logged and
/// leaves the API running: metrics are not worth an outage.
async fn serve_metrics(
    listen: MetricsListen,
    metrics: PrometheusHandle,
    mut stopped: watch::Receiver<bool>,
) {
    let Some(addr) = listen.0 else { return };
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%addr, %error, "cannot serve metrics_listen; metrics are off");
            return;
        }
    };
    tracing::info!(%addr, "metrics listening");
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(75),
        max_connections: 64,
        drain_grace: Duration::from_secs(1),
    };
    server::serve(listener, api::metrics_router(metrics), limits, async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    })
    .await;
}

/// Opens the store `database_url` selects, running its migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let engine = EngineConfig {
        reconnect_grace_ms: config.reconnect_grace.as_millis() as i64,
    };
    let opening = || format!("opening {}", config.redacted_database_url());
    let sealer = Arc::new(sealer(config)?);
    Ok(match config.database() {
        Some(Database::Postgres) => Arc::new(
            PostgresStore::open_with_limits(
                &config.database_url,
                config.database_max_connections,
                engine,
                sealer,
                config.session_limits(),
            )
            .await
            .with_context(opening)?,
        ),
        _ => {
            Arc::new(SqliteStore::open(&config.database_url, engine, sealer).with_context(opening)?)
        }
    })
}

/// The key `secret_key` names; on SQLite without one, the key file next to the database.
fn sealer(config: &Config) -> anyhow::Result<Sealer> {
    let parse = |text: &str, what: &str| {
        parse_key(text).with_context(|| format!("{what} is not 32 bytes in base64"))
    };
    let current = match (&config.secret_key, config.database()) {
        (Some(key), _) => parse(&key.0, "secret_key")?,
        (None, Some(Database::Sqlite)) => {
            let folder = config
                .sqlite_folder()
                .context("database_url has no folder")?;
            let (key, path) = Sealer::key_file(&folder).with_context(|| {
                format!("reading or creating {}", folder.join(KEY_FILE).display())
            })?;
            parse(&key, &path.display().to_string())?
        }
        (None, _) => anyhow::bail!("secret_key is required with PostgreSQL"),
    };
    let previous = config
        .previous_secret_keys
        .iter()
        .map(|key| parse(&key.0, "previous_secret_keys"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Sealer::new(current, &previous))
}
