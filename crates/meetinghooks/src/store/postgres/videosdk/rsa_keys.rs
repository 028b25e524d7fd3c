//! Projects' RSA keys in PostgreSQL: rotating them with the project's row locked (so two
//! nodes rotating at once keep one successor), and resealing them at start (the rest is
//! written once, in `store::rsa_keys`).

use async_trait::async_trait;
use deadpool_postgres::Transaction;

use super::super::error::{PgError, PgResult};
use super::super::query::owned;
use super::super::{PostgresStore, MAX_RETRIES};
use crate::domain::timestamp::Timestamp;
use crate::sealing::Sealer;
use crate::store::rsa_keys::{opened, rotated, ProjectRsaKeys, RotateRsaKey, COLUMNS};
use crate::store::{StoreError, StoreResult};

/// The keys, with the project's row locked until the transaction ends.
async fn locked(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    project_id: &str,
) -> PgResult<Option<ProjectRsaKeys>> {
    let row = tx
        .query_opt(
            &format!("SELECT {COLUMNS} FROM projects WHERE id = $1 FOR UPDATE"),
            &[&project_id],
        )
        .await?
        .ok_or(PgError::Store(StoreError::NotFound("project")))?;
    Ok(opened(sealer, &owned(&row)?)?)
}

async fn write(tx: &Transaction<'_>, sealer: &Sealer, keys: &ProjectRsaKeys) -> PgResult<()> {
    tx.execute(
        "UPDATE projects SET rsa_key = $2, rsa_key_next = $3, rsa_key_next_from = $4 WHERE id = $1",
        &[
            &keys.project_id,
            &sealer.seal(&keys.current),
            &keys.next.as_ref().map(|n| sealer.seal(&n.private_pem)),
            &keys.next.as_ref().map(|n| n.from.0),
        ],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl RotateRsaKey for PostgresStore {
    async fn rotate(
        &self,
        project_id: &str,
        next_pem: String,
        from: Timestamp,
        now: Timestamp,
    ) -> StoreResult<ProjectRsaKeys> {
        transact!(self, |tx| async {
            let keys = match locked(&tx, &self.sealer, project_id).await? {
                Some(keys) => rotated(&keys, next_pem.clone(), from, now),
                // Nothing signs yet: the new key is the first, in force at once.
                None => ProjectRsaKeys {
                    project_id: project_id.to_owned(),
                    current: next_pem.clone(),
                    next: None,
                },
            };
            write(&tx, &self.sealer, &keys).await?;
            PgResult::Ok(keys)
        })
    }
}
