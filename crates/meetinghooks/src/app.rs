//! `run`: wires the store, the timer driver and the HTTP API, and serves until shutdown.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::api::{self, AppState};
use crate::config::Config;
use crate::domain::ids::sha256;
use crate::engine::EngineConfig;
use crate::store::sqlite::SqliteStore;
use crate::store::Store;
use crate::timers;

/// Name of the project that `bootstrap_api_key` opens.
pub const DEFAULT_PROJECT: &str = "default";

/// Serves the API on `listener` until `shutdown` completes, then drains and returns.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    if let Some(key) = &config.bootstrap_api_key {
        store
            .ensure_project_key(DEFAULT_PROJECT, sha256(key.0.as_bytes()))
            .await
            .context("creating the bootstrap project")?;
    }
    let wake_timers = Arc::new(Notify::new());
    let (stop, stopped) = watch::channel(false);
    let timer_task = tokio::spawn(timers::run(store.clone(), wake_timers.clone(), stopped));

    let state = AppState::new(store, wake_timers);
    tracing::info!(addr = %listener.local_addr()?, "meetinghooks listening");
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;

    let _ = stop.send(true);
    let _ = timer_task.await;
    tracing::info!("meetinghooks stopped");
    Ok(())
}

pub fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let engine = EngineConfig {
        reconnect_grace_ms: config.reconnect_grace.as_millis() as i64,
    };
    let store = SqliteStore::open(&config.database_url, engine)
        .with_context(|| format!("opening {}", config.database_url))?;
    Ok(Arc::new(store))
}
