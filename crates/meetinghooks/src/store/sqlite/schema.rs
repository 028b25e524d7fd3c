//! The SQLite file's connections, its migrations, and resealing at start.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::query::{run, select};
use crate::domain::public_ids::PublicIds;
use crate::sealing::Sealer;
use crate::store::resealing;

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_delivery.sql"),
    include_str!("migrations/0003_last_error_kind.sql"),
    include_str!("migrations/0004_signals_per_meeting.sql"),
    include_str!("migrations/0005_messages_by_project.sql"),
    include_str!("migrations/0006_api_key_ids.sql"),
    include_str!("migrations/0007_signals_by_age.sql"),
    include_str!("migrations/0008_sources.sql"),
    include_str!("migrations/0009_install_keys.sql"),
    include_str!("migrations/0010_videosdk_signature.sql"),
];

/// Creates the database file readable by its owner only, if it does not exist yet; SQLite
/// gives its WAL and shared-memory files the same mode.
pub(super) fn create_private(path: &Path) -> std::io::Result<()> {
    match crate::sealing::create_private(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other.map(drop),
    }
}

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 128;

pub(super) fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    // The writer's cycle of ingest, leases and outcomes runs about thirty distinct cached
    // statements; rusqlite's default cache of 16 made many of them parse again each time
    // (`sqlite3RunParser` in the many-rooms profile).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // WAL lets readers run beside the writer; FULL makes each commit durable before we acknowledge.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Checkpoint less often: hot pages rewritten many times reach the database file once.
    conn.pragma_update(None, "wal_autocheckpoint", 8192)?;
    Ok(conn)
}

pub(super) fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// The install's public-id key, which a migration made.
pub(super) fn public_ids(conn: &Connection) -> anyhow::Result<PublicIds> {
    let key: Vec<u8> = conn.query_row(
        "SELECT value FROM install_keys WHERE name = 'public_ids'",
        [],
        |row| row.get(0),
    )?;
    PublicIds::from_stored_key(&key).ok_or_else(|| anyhow::anyhow!("install_keys: a bad key"))
}

/// Runs the [`resealing`] plans in one transaction, before the writer starts.
pub(super) fn reseal(conn: &mut Connection, sealer: &Sealer) -> anyhow::Result<usize> {
    let tx = conn.transaction()?;
    let mut resealed = 0;
    for table in &resealing::TABLES {
        for row in select(&tx, table.select, &[])? {
            if let Some(step) = (table.plan)(sealer, &row)? {
                run(&tx, &step.sql, &step.params)?;
                resealed += 1;
            }
        }
    }
    tx.commit()?;
    Ok(resealed)
}
