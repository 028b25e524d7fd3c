//! Connections to PostgreSQL: the URL read as libpq reads it, TLS, each session's limits, the
//! pool, and the configuration the listener connects with.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::session::SessionLimits;
use super::{tls, DATABASE_TIMEOUT};

pub(super) struct Connections {
    pub pool: Pool,
    /// For the dedicated LISTEN connection, outside the pool.
    pub listening: tokio_postgres::Config,
    pub tls: MakeRustlsConnect,
}

/// A pool of up to `max_connections` to `url`; nothing is connected yet.
pub(super) fn connect(
    url: &str,
    max_connections: usize,
    limits: &SessionLimits,
) -> anyhow::Result<Connections> {
    let (url, tls_settings) = tls::split_url(url).map_err(|e| anyhow::anyhow!(e))?;
    let tls = tls::connector(&tls_settings)?;
    let mut config = tokio_postgres::Config::from_str(&url)?;
    config.connect_timeout(DATABASE_TIMEOUT);
    // A node that freezes or loses the network mid-transaction must not hold meeting locks
    // for long: the server ends such a session, and dead peers are noticed.
    let ours = limits.options();
    // Added to any `options` the URL carries, which keep their say.
    let options = match config.get_options() {
        Some(theirs) => format!("{ours} {theirs}"),
        None => ours,
    };
    config.options(options);
    config.keepalives_idle(Duration::from_secs(30));
    if config.get_application_name().is_none() {
        config.application_name("meetinghooks");
    }
    let listening = config.clone();
    let manager = Manager::from_config(
        config,
        tls.clone(),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(max_connections)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(DATABASE_TIMEOUT))
        .create_timeout(Some(DATABASE_TIMEOUT))
        .recycle_timeout(Some(DATABASE_TIMEOUT))
        .build()?;
    Ok(Connections {
        pool,
        listening,
        tls,
    })
}
