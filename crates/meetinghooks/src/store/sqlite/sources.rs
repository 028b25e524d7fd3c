//! Source rows in SQLite: a source and its key pairs (secrets sealed in the row, open in
//! memory); an API key belongs to one source only.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::SqliteStore;
use crate::domain::timestamp::Timestamp;
use crate::sealing::{SealError, Sealer};
use crate::sources::{HlsRewrite, Source, SourceKey, SourceKind};
use crate::store::{api_key_taken, SourceStore, StoreResult};

const COLUMNS: &str = "id, project_id, kind, hls_rewrite_from, hls_rewrite_to, created_at";

/// Inserts the source and its keys; a key another source holds fails the whole job.
pub(super) fn create(conn: &Connection, sealer: &Sealer, source: Source) -> StoreResult<Source> {
    let rewrite = source.hls_rewrite.as_ref();
    conn.execute(
        "INSERT INTO sources (id, project_id, kind, hls_rewrite_from, hls_rewrite_to, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            source.id,
            source.project_id,
            source.kind.as_str(),
            rewrite.map(|r| &r.from),
            rewrite.map(|r| &r.to),
            source.created_at.0
        ],
    )?;
    for (position, key) in source.keys.iter().enumerate() {
        let inserted = conn.execute(
            "INSERT INTO source_keys (api_key, source_id, position, api_secret)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (api_key) DO NOTHING",
            params![
                key.api_key,
                source.id,
                position as i64,
                sealer.seal(&key.api_secret)
            ],
        )?;
        if inserted == 0 {
            // The writer rolls this job back to its savepoint.
            return Err(api_key_taken(&key.api_key));
        }
    }
    Ok(source)
}

pub(super) fn delete(conn: &Connection, project_id: &str, source_id: &str) -> StoreResult<bool> {
    conn.execute(
        "DELETE FROM source_keys WHERE source_id = (
             SELECT id FROM sources WHERE id = ?1 AND project_id = ?2)",
        params![source_id, project_id],
    )?;
    let deleted = conn.execute(
        "DELETE FROM sources WHERE id = ?1 AND project_id = ?2",
        params![source_id, project_id],
    )?;
    Ok(deleted > 0)
}

pub(super) fn list(
    conn: &Connection,
    sealer: &Sealer,
    project_id: &str,
) -> rusqlite::Result<Vec<Source>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM sources WHERE project_id = ?1 ORDER BY created_at, id"
    ))?;
    let rows = stmt
        .query_map([project_id], source_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|row| with_keys(conn, sealer, row))
        .collect()
}

pub(super) fn get(
    conn: &Connection,
    sealer: &Sealer,
    project_id: &str,
    source_id: &str,
) -> rusqlite::Result<Option<Source>> {
    let row = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM sources WHERE id = ?1 AND project_id = ?2"),
            params![source_id, project_id],
            source_from_row,
        )
        .optional()?;
    row.map(|row| with_keys(conn, sealer, row)).transpose()
}

pub(super) fn by_api_key(
    conn: &Connection,
    sealer: &Sealer,
    api_key: &str,
) -> rusqlite::Result<Option<Source>> {
    let row = conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM sources
                 WHERE id = (SELECT source_id FROM source_keys WHERE api_key = ?1)"
            ),
            [api_key],
            source_from_row,
        )
        .optional()?;
    row.map(|row| with_keys(conn, sealer, row)).transpose()
}

fn with_keys(conn: &Connection, sealer: &Sealer, mut source: Source) -> rusqlite::Result<Source> {
    let mut stmt = conn.prepare_cached(
        "SELECT api_key, api_secret FROM source_keys WHERE source_id = ?1 ORDER BY position",
    )?;
    source.keys = stmt
        .query_map([&source.id], |row| {
            let sealed: String = row.get(1)?;
            Ok(SourceKey {
                api_key: row.get(0)?,
                api_secret: sealer.open(&sealed).map_err(unreadable)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(source)
}

fn unreadable(e: SealError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
}

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

fn source_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Source> {
    let kind: String = row.get(2)?;
    let from: Option<String> = row.get(3)?;
    let to: Option<String> = row.get(4)?;
    Ok(Source {
        id: row.get(0)?,
        project_id: row.get(1)?,
        // Written by this store only; an unknown kind is a newer node's, read as LiveKit's.
        kind: SourceKind::parse(&kind).unwrap_or(SourceKind::LiveKit),
        keys: Vec::new(),
        hls_rewrite: from.zip(to).map(|(from, to)| HlsRewrite { from, to }),
        created_at: Timestamp(row.get(5)?),
    })
}

#[async_trait]
impl SourceStore for SqliteStore {
    async fn create_source(&self, source: Source) -> StoreResult<Source> {
        let sealer = self.sealer.clone();
        self.write(move |conn, _| create(conn, &sealer, source))
            .await
    }

    async fn sources(&self, project_id: &str) -> StoreResult<Vec<Source>> {
        let (project_id, sealer) = (project_id.to_owned(), self.sealer.clone());
        self.read(move |conn| list(conn, &sealer, &project_id))
            .await
    }

    async fn source(&self, project_id: &str, source_id: &str) -> StoreResult<Option<Source>> {
        let (project_id, source_id) = (project_id.to_owned(), source_id.to_owned());
        let sealer = self.sealer.clone();
        self.read(move |conn| get(conn, &sealer, &project_id, &source_id))
            .await
    }

    async fn source_by_api_key(&self, api_key: &str) -> StoreResult<Option<Source>> {
        let (api_key, sealer) = (api_key.to_owned(), self.sealer.clone());
        self.read(move |conn| by_api_key(conn, &sealer, &api_key))
            .await
    }

    async fn delete_source(&self, project_id: &str, source_id: &str) -> StoreResult<bool> {
        let (project_id, source_id) = (project_id.to_owned(), source_id.to_owned());
        self.write(move |conn, _| delete(conn, &project_id, &source_id))
            .await
    }
}
