//! Source rows in PostgreSQL: a source and its key pairs (secrets sealed in the row, open in
//! memory); an API key belongs to one source only (its primary key), whichever node
//! registers it.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use tokio_postgres::{GenericClient, Row};

use super::error::{PgError, PgResult};
use super::{PostgresStore, MAX_RETRIES};
use crate::domain::timestamp::Timestamp;
use crate::sealing::Sealer;
use crate::sources::{HlsRewrite, Source, SourceKey, SourceKind};
use crate::store::{api_key_taken, SourceStore, StoreError, StoreResult};

const COLUMNS: &str = "id, project_id, kind, hls_rewrite_from, hls_rewrite_to, created_at";

#[async_trait]
impl SourceStore for PostgresStore {
    async fn create_source(&self, source: Source) -> StoreResult<Source> {
        let rewrite = source.hls_rewrite.as_ref();
        let (from, to) = (rewrite.map(|r| &r.from), rewrite.map(|r| &r.to));
        transact!(self, |tx| async {
            tx.execute(
                "INSERT INTO sources (id, project_id, kind, hls_rewrite_from, hls_rewrite_to, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&source.id, &source.project_id, &source.kind.as_str(), &from, &to, &source.created_at.0],
            )
            .await?;
            for (position, key) in source.keys.iter().enumerate() {
                let inserted = tx
                    .execute(
                        "INSERT INTO source_keys (api_key, source_id, position, api_secret)
                         VALUES ($1, $2, $3, $4) ON CONFLICT (api_key) DO NOTHING",
                        &[
                            &key.api_key,
                            &source.id,
                            &(position as i32),
                            &self.sealer.seal(&key.api_secret),
                        ],
                    )
                    .await?;
                if inserted == 0 {
                    // An error, so the transaction rolls back without a commit.
                    return Err(PgError::Store(api_key_taken(&key.api_key)));
                }
            }
            PgResult::Ok(())
        })?;
        Ok(source)
    }

    async fn sources(&self, project_id: &str) -> StoreResult<Vec<Source>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM sources WHERE project_id = $1 ORDER BY created_at, id"
                ),
                &[&project_id],
            )
            .await
            .map_err(PgError::from)?;
        let mut sources = Vec::with_capacity(rows.len());
        for row in &rows {
            sources.push(with_keys(&**client, &self.sealer, from_row(row)).await?);
        }
        Ok(sources)
    }

    async fn source(&self, project_id: &str, source_id: &str) -> StoreResult<Option<Source>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {COLUMNS} FROM sources WHERE id = $1 AND project_id = $2"),
                &[&source_id, &project_id],
            )
            .await
            .map_err(PgError::from)?;
        match row {
            Some(row) => Ok(Some(
                with_keys(&**client, &self.sealer, from_row(&row)).await?,
            )),
            None => Ok(None),
        }
    }

    async fn source_by_api_key(&self, api_key: &str) -> StoreResult<Option<Source>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM sources
                     WHERE id = (SELECT source_id FROM source_keys WHERE api_key = $1)"
                ),
                &[&api_key],
            )
            .await
            .map_err(PgError::from)?;
        match row {
            Some(row) => Ok(Some(
                with_keys(&**client, &self.sealer, from_row(&row)).await?,
            )),
            None => Ok(None),
        }
    }

    async fn delete_source(&self, project_id: &str, source_id: &str) -> StoreResult<bool> {
        transact!(self, |tx| async {
            // Keys go with their source (ON DELETE CASCADE).
            let deleted = tx
                .execute(
                    "DELETE FROM sources WHERE id = $1 AND project_id = $2",
                    &[&source_id, &project_id],
                )
                .await?;
            PgResult::Ok(deleted > 0)
        })
    }
}

async fn with_keys(
    client: &impl GenericClient,
    sealer: &Sealer,
    mut source: Source,
) -> StoreResult<Source> {
    let rows = client
        .query(
            "SELECT api_key, api_secret FROM source_keys WHERE source_id = $1 ORDER BY position",
            &[&source.id],
        )
        .await
        .map_err(|e| StoreError::from(PgError::from(e)))?;
    source.keys = rows
        .iter()
        .map(|row| {
            Ok(SourceKey {
                api_key: row.get(0),
                api_secret: sealer.open(row.get(1)).map_err(PgError::from)?,
            })
        })
        .collect::<PgResult<_>>()?;
    Ok(source)
}

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

fn from_row(row: &Row) -> Source {
    let from: Option<String> = row.get(3);
    let to: Option<String> = row.get(4);
    Source {
        id: row.get(0),
        project_id: row.get(1),
        // Written by this store only; an unknown kind is a newer node's, read as LiveKit's.
        kind: SourceKind::parse(row.get(2)).unwrap_or(SourceKind::LiveKit),
        keys: Vec::new(),
        hls_rewrite: from.zip(to).map(|(from, to)| HlsRewrite { from, to }),
        created_at: Timestamp(row.get(5)),
    }
}
