//! The schema: embedded migrations, run by each node at start under an advisory lock, and
//! resealing under the same lock.

use deadpool_postgres::Pool;

use super::query::{execute_with, owned};
use crate::domain::public_ids::PublicIds;
use crate::domain::timestamp::Timestamp;
use crate::sealing::Sealer;
use crate::store::resealing;

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_last_error_kind.sql"),
    include_str!("migrations/0003_signals_per_meeting.sql"),
    include_str!("migrations/0004_api_key_ids.sql"),
    include_str!("migrations/0005_signals_by_age.sql"),
    include_str!("migrations/0006_sources.sql"),
    include_str!("migrations/0007_install_keys.sql"),
    include_str!("migrations/0008_videosdk_signature.sql"),
];
/// Any constant works, as long as every node uses the same one.
const MIGRATION_LOCK: i64 = 0x6d68_6d69_6772;

/// Applies missing migrations (nodes starting together take turns on an advisory lock),
/// reseals what needs it, and returns the install's public-id key.
pub(super) async fn migrate(pool: &Pool, sealer: &Sealer) -> anyhow::Result<PublicIds> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // Waiting for another node's migration, or migrating a large table, may take long.
    tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let applied: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0);
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[&(index as i32 + 1), &Timestamp::now().0],
        )
        .await?;
    }
    // Under the migration lock: nodes starting together reseal once.
    for table in &resealing::TABLES {
        for row in tx
            .query(&format!("{} FOR UPDATE", table.select), &[])
            .await?
        {
            if let Some(step) = (table.plan)(sealer, &owned(&row)?)? {
                execute_with(&*tx, &step.sql, step.params).await?;
            }
        }
    }
    let key: Vec<u8> = tx
        .query_one(
            "SELECT value FROM install_keys WHERE name = 'public_ids'",
            &[],
        )
        .await?
        .get(0);
    tx.commit().await?;
    PublicIds::from_stored_key(&key).ok_or_else(|| anyhow::anyhow!("install_keys: a bad key"))
}
