//! Source keys in PostgreSQL at start: secrets stored before sealing, or under an older key,
//! sealed again (the sources themselves are read and written in `store::sources`).

use deadpool_postgres::Transaction;

use super::error::PgResult;
use crate::sealing::Sealer;

/// At start, under the migration lock: secrets stored before sealing, or under an older key,
/// sealed with the current one.
pub(super) async fn reseal_keys(tx: &Transaction<'_>, sealer: &Sealer) -> PgResult<u64> {
    let mut resealed = 0;
    for row in tx
        .query("SELECT api_key, api_secret FROM source_keys", &[])
        .await?
    {
        let (api_key, secret): (String, String) = (row.get(0), row.get(1));
        if sealer.needs_resealing(&secret) {
            tx.execute(
                "UPDATE source_keys SET api_secret = $2 WHERE api_key = $1",
                &[&api_key, &sealer.reseal(&secret)?],
            )
            .await?;
            resealed += 1;
        }
    }
    Ok(resealed)
}
