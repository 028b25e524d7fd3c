//! Source keys in SQLite at start: secrets stored before sealing, or under an older key,
//! sealed again (the sources themselves are read and written in `store::sources`).

use rusqlite::{params, Connection};

use crate::sealing::Sealer;

/// At start: secrets stored before sealing, or under an older key, sealed with the current one.
pub(super) fn reseal_keys(conn: &mut Connection, sealer: &Sealer) -> anyhow::Result<usize> {
    let tx = conn.transaction()?;
    let stale: Vec<(String, String)> = tx
        .prepare("SELECT api_key, api_secret FROM source_keys")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<Vec<(String, String)>>>()?
        .into_iter()
        .filter(|(_, secret)| sealer.needs_resealing(secret))
        .collect();
    for (api_key, secret) in &stale {
        tx.execute(
            "UPDATE source_keys SET api_secret = ?2 WHERE api_key = ?1",
            params![api_key, sealer.reseal(secret)?],
        )?;
    }
    tx.commit()?;
    Ok(stale.len())
}
