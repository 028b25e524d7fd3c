//! The sources part of the `Store` trait: LiveKit servers' credentials per project, written
//! once over the shared query executor. A source's key secrets are sealed in their rows and
//! open in memory; an API key belongs to one source only (its primary key), whichever node
//! registers it.

use async_trait::async_trait;

use super::query::{args, Commit, Query, Row, Step};
use super::rows::Columns;
use super::{StoreError, StoreResult};
use crate::domain::timestamp::Timestamp;
use crate::sources::{HlsRewrite, Source, SourceKey, SourceKind};

#[async_trait]
pub trait SourceStore {
    /// Stores a source with its keys; an API key another source holds is `Busy` (409).
    async fn create_source(&self, source: Source) -> StoreResult<Source>;
    /// The project's sources, oldest first.
    async fn sources(&self, project_id: &str) -> StoreResult<Vec<Source>>;
    async fn source(&self, project_id: &str, source_id: &str) -> StoreResult<Option<Source>>;
    /// The source, in any project, that holds this API key.
    async fn source_by_api_key(&self, api_key: &str) -> StoreResult<Option<Source>>;
    /// Deletes a source and its keys; `false` if it did not exist.
    async fn delete_source(&self, project_id: &str, source_id: &str) -> StoreResult<bool>;
}

/// `create_source` with an API key another source holds.
pub fn api_key_taken(api_key: &str) -> StoreError {
    StoreError::Busy(format!("API key {api_key:?} belongs to another source"))
}

const COLUMNS: &str = "id, project_id, kind, hls_rewrite_from, hls_rewrite_to, created_at";

#[async_trait]
impl<S: Query + 'static> SourceStore for S {
    async fn create_source(&self, source: Source) -> StoreResult<Source> {
        let rewrite = source.hls_rewrite.as_ref();
        let mut steps = vec![Step::new(
            "INSERT INTO sources (id, project_id, kind, hls_rewrite_from, hls_rewrite_to, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            args![
                &source.id,
                &source.project_id,
                source.kind.as_str(),
                rewrite.map(|r| &r.from),
                rewrite.map(|r| &r.to),
                source.created_at.0
            ],
        )];
        for (position, key) in source.keys.iter().enumerate() {
            let api_key = key.api_key.clone();
            let params = args![
                &key.api_key,
                &source.id,
                position as i64,
                self.sealer().seal(&key.api_secret)
            ];
            let insert = "INSERT INTO source_keys (api_key, source_id, position, api_secret)
                          VALUES ($1, $2, $3, $4) ON CONFLICT (api_key) DO NOTHING";
            steps.push(Step::new(insert, params).or_refuse(move || api_key_taken(&api_key)));
        }
        self.transaction(steps, Commit::Durable).await?;
        Ok(source)
    }

    async fn sources(&self, project_id: &str) -> StoreResult<Vec<Source>> {
        let sql =
            format!("SELECT {COLUMNS} FROM sources WHERE project_id = $1 ORDER BY created_at, id");
        let mut sources = self.all(&sql, args![project_id], source).await?;
        for source in &mut sources {
            with_keys(self, source).await?;
        }
        Ok(sources)
    }

    async fn source(&self, project_id: &str, source_id: &str) -> StoreResult<Option<Source>> {
        let sql = format!("SELECT {COLUMNS} FROM sources WHERE id = $1 AND project_id = $2");
        let found = self.first(&sql, args![source_id, project_id], source);
        opened(self, found.await?).await
    }

    async fn source_by_api_key(&self, api_key: &str) -> StoreResult<Option<Source>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM sources
             WHERE id = (SELECT source_id FROM source_keys WHERE api_key = $1)"
        );
        let found = self.first(&sql, args![api_key], source);
        opened(self, found.await?).await
    }

    /// Deletes the keys first: SQLite's schema does not cascade.
    async fn delete_source(&self, project_id: &str, source_id: &str) -> StoreResult<bool> {
        let steps = vec![
            Step::new(
                "DELETE FROM source_keys WHERE source_id = (
                     SELECT id FROM sources WHERE id = $1 AND project_id = $2)",
                args![source_id, project_id],
            ),
            Step::new(
                "DELETE FROM sources WHERE id = $1 AND project_id = $2",
                args![source_id, project_id],
            ),
        ];
        let counts = self.transaction(steps, Commit::Durable).await?;
        Ok(counts.last().is_some_and(|deleted| *deleted > 0))
    }
}

async fn opened(store: &impl Query, source: Option<Source>) -> StoreResult<Option<Source>> {
    let Some(mut source) = source else {
        return Ok(None);
    };
    with_keys(store, &mut source).await?;
    Ok(Some(source))
}

async fn with_keys(store: &impl Query, source: &mut Source) -> StoreResult<()> {
    let sealer = store.sealer();
    source.keys = store
        .all(
            "SELECT api_key, api_secret FROM source_keys WHERE source_id = $1 ORDER BY position",
            args![&source.id],
            |row| {
                Ok(SourceKey {
                    api_key: row.text(0)?,
                    api_secret: sealer
                        .open(&row.text(1)?)
                        .map_err(|e| StoreError::Unavailable(e.to_string()))?,
                })
            },
        )
        .await?;
    Ok(())
}

fn source(row: &Row) -> StoreResult<Source> {
    let (from, to) = (row.opt_text(3)?, row.opt_text(4)?);
    Ok(Source {
        id: row.text(0)?,
        project_id: row.text(1)?,
        // Written by this store only; an unknown kind is a newer node's, read as LiveKit's.
        kind: SourceKind::parse(&row.text(2)?).unwrap_or(SourceKind::LiveKit),
        keys: Vec::new(),
        hls_rewrite: from.zip(to).map(|(from, to)| HlsRewrite { from, to }),
        created_at: Timestamp(row.int(5)?),
    })
}
