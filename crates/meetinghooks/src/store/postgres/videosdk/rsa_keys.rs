//! Projects' RSA keys in PostgreSQL: sealed in the `projects` row (locked while it changes,
//! so two nodes generating a first key keep one), open in memory.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::super::error::{PgError, PgResult};
use super::super::{PostgresStore, MAX_RETRIES};
use crate::domain::timestamp::Timestamp;
use crate::sealing::Sealer;
use crate::store::changes::Changes;
use crate::store::rsa_keys::{rotated, NextRsaKey, ProjectRsaKeys, RsaKeyStore};
use crate::store::{StoreError, StoreResult};

const COLUMNS: &str = "id, rsa_key, rsa_key_next, rsa_key_next_from";

fn opened(sealer: &Sealer, row: &Row) -> PgResult<Option<ProjectRsaKeys>> {
    let Some(key) = row.get::<_, Option<String>>(1) else {
        return Ok(None);
    };
    let next = match (
        row.get::<_, Option<String>>(2),
        row.get::<_, Option<i64>>(3),
    ) {
        (Some(next), Some(from)) => Some(NextRsaKey {
            private_pem: sealer.open(&next)?,
            from: Timestamp(from),
        }),
        _ => None,
    };
    Ok(Some(ProjectRsaKeys {
        project_id: row.get(0),
        current: sealer.open(&key)?,
        next,
    }))
}

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
    opened(sealer, &row)
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

/// At start, under the migration lock: keys sealed under an older key, sealed again.
pub(in crate::store) async fn reseal(tx: &Transaction<'_>, sealer: &Sealer) -> PgResult<u64> {
    let mut resealed = 0;
    for row in tx
        .query("SELECT id, rsa_key, rsa_key_next FROM projects", &[])
        .await?
    {
        let (id, key, next): (String, Option<String>, Option<String>) =
            (row.get(0), row.get(1), row.get(2));
        if !key.iter().chain(&next).any(|v| sealer.needs_resealing(v)) {
            continue;
        }
        tx.execute(
            "UPDATE projects SET rsa_key = $2, rsa_key_next = $3 WHERE id = $1",
            &[
                &id,
                &key.map(|k| sealer.reseal(&k)).transpose()?,
                &next.map(|n| sealer.reseal(&n)).transpose()?,
            ],
        )
        .await?;
        resealed += 1;
    }
    Ok(resealed)
}

#[async_trait]
impl RsaKeyStore for PostgresStore {
    async fn rsa_keys(&self, project_id: &str) -> StoreResult<Option<ProjectRsaKeys>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {COLUMNS} FROM projects WHERE id = $1"),
                &[&project_id],
            )
            .await
            .map_err(PgError::from)?
            .ok_or(StoreError::NotFound("project"))?;
        Ok(opened(&self.sealer, &row)?)
    }

    async fn set_rsa_key_if_absent(
        &self,
        project_id: &str,
        private_pem: String,
    ) -> StoreResult<ProjectRsaKeys> {
        let keys = transact!(self, |tx| async {
            if let Some(keys) = locked(&tx, &self.sealer, project_id).await? {
                return PgResult::Ok(keys);
            }
            let keys = ProjectRsaKeys {
                project_id: project_id.to_owned(),
                current: private_pem.clone(),
                next: None,
            };
            write(&tx, &self.sealer, &keys).await?;
            PgResult::Ok(keys)
        })?;
        self.hub.announce(Changes::ENDPOINTS);
        Ok(keys)
    }

    async fn rotate_rsa_key(
        &self,
        project_id: &str,
        next_pem: String,
        from: Timestamp,
        now: Timestamp,
    ) -> StoreResult<ProjectRsaKeys> {
        let keys = transact!(self, |tx| async {
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
        })?;
        self.hub.announce(Changes::ENDPOINTS);
        Ok(keys)
    }

    async fn all_rsa_keys(&self) -> StoreResult<Vec<ProjectRsaKeys>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {COLUMNS} FROM projects WHERE rsa_key IS NOT NULL"),
                &[],
            )
            .await
            .map_err(PgError::from)?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in &rows {
            keys.extend(opened(&self.sealer, row)?);
        }
        Ok(keys)
    }

    async fn projects_without_rsa_key(&self) -> StoreResult<Vec<String>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id FROM projects WHERE rsa_key IS NULL ORDER BY id",
                &[],
            )
            .await
            .map_err(PgError::from)?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }
}
