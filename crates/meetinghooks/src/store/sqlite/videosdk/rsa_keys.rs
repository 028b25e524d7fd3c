//! Projects' RSA keys in SQLite: sealed in the `projects` row, open in memory.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::super::SqliteStore;
use crate::domain::timestamp::Timestamp;
use crate::sealing::{SealError, Sealer};
use crate::store::changes::Changes;
use crate::store::rsa_keys::{rotated, NextRsaKey, ProjectRsaKeys, RsaKeyStore};
use crate::store::{StoreError, StoreResult};

const COLUMNS: &str = "id, rsa_key, rsa_key_next, rsa_key_next_from";

type Sealed = (String, Option<String>, Option<String>, Option<i64>);

fn sealed_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Sealed> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn opened(
    sealer: &Sealer,
    (id, key, next, from): Sealed,
) -> Result<Option<ProjectRsaKeys>, SealError> {
    let Some(key) = key else { return Ok(None) };
    let next = match (next, from) {
        (Some(next), Some(from)) => Some(NextRsaKey {
            private_pem: sealer.open(&next)?,
            from: Timestamp(from),
        }),
        _ => None,
    };
    Ok(Some(ProjectRsaKeys {
        project_id: id,
        current: sealer.open(&key)?,
        next,
    }))
}

fn unreadable(e: SealError) -> StoreError {
    StoreError::Internal(e.to_string())
}

fn get(
    conn: &Connection,
    sealer: &Sealer,
    project_id: &str,
) -> StoreResult<Option<ProjectRsaKeys>> {
    let row = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM projects WHERE id = ?1"),
            [project_id],
            sealed_row,
        )
        .optional()?;
    match row {
        Some(row) => opened(sealer, row).map_err(unreadable),
        None => Err(StoreError::NotFound("project")),
    }
}

fn write(conn: &Connection, sealer: &Sealer, keys: &ProjectRsaKeys) -> StoreResult<()> {
    conn.execute(
        "UPDATE projects SET rsa_key = ?2, rsa_key_next = ?3, rsa_key_next_from = ?4 WHERE id = ?1",
        params![
            keys.project_id,
            sealer.seal(&keys.current),
            keys.next.as_ref().map(|n| sealer.seal(&n.private_pem)),
            keys.next.as_ref().map(|n| n.from.0),
        ],
    )?;
    Ok(())
}

/// At start: keys stored under an older sealing key, sealed with the current one.
pub(in crate::store) fn reseal(conn: &mut Connection, sealer: &Sealer) -> anyhow::Result<usize> {
    let tx = conn.transaction()?;
    let rows: Vec<(String, Option<String>, Option<String>)> = tx
        .prepare("SELECT id, rsa_key, rsa_key_next FROM projects")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut resealed = 0;
    for (id, key, next) in rows {
        if !key.iter().chain(&next).any(|v| sealer.needs_resealing(v)) {
            continue;
        }
        tx.execute(
            "UPDATE projects SET rsa_key = ?2, rsa_key_next = ?3 WHERE id = ?1",
            params![
                id,
                key.map(|k| sealer.reseal(&k)).transpose()?,
                next.map(|n| sealer.reseal(&n)).transpose()?
            ],
        )?;
        resealed += 1;
    }
    tx.commit()?;
    Ok(resealed)
}

#[async_trait]
impl RsaKeyStore for SqliteStore {
    async fn rsa_keys(&self, project_id: &str) -> StoreResult<Option<ProjectRsaKeys>> {
        let (project_id, sealer) = (project_id.to_owned(), self.sealer.clone());
        self.read(move |conn| get(conn, &sealer, &project_id)).await
    }

    async fn set_rsa_key_if_absent(
        &self,
        project_id: &str,
        private_pem: String,
    ) -> StoreResult<ProjectRsaKeys> {
        let (project_id, sealer) = (project_id.to_owned(), self.sealer.clone());
        self.write(move |conn, _| {
            if let Some(keys) = get(conn, &sealer, &project_id)? {
                return Ok(keys);
            }
            let keys = ProjectRsaKeys {
                project_id,
                current: private_pem,
                next: None,
            };
            write(conn, &sealer, &keys)?;
            Ok(keys)
        })
        .await
        .inspect(|_| self.hub.announce(Changes::ENDPOINTS))
    }

    async fn rotate_rsa_key(
        &self,
        project_id: &str,
        next_pem: String,
        from: Timestamp,
        now: Timestamp,
    ) -> StoreResult<ProjectRsaKeys> {
        let (project_id, sealer) = (project_id.to_owned(), self.sealer.clone());
        self.write(move |conn, _| {
            let Some(keys) = get(conn, &sealer, &project_id)? else {
                // Nothing signs yet: the new key is the first, in force at once.
                let keys = ProjectRsaKeys {
                    project_id,
                    current: next_pem,
                    next: None,
                };
                write(conn, &sealer, &keys)?;
                return Ok(keys);
            };
            let keys = rotated(&keys, next_pem, from, now);
            write(conn, &sealer, &keys)?;
            Ok(keys)
        })
        .await
        .inspect(|_| self.hub.announce(Changes::ENDPOINTS))
    }

    async fn all_rsa_keys(&self) -> StoreResult<Vec<ProjectRsaKeys>> {
        let sealer = self.sealer.clone();
        self.read(move |conn| {
            let rows = conn
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM projects WHERE rsa_key IS NOT NULL"
                ))?
                .query_map([], sealed_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .filter_map(|row| opened(&sealer, row).transpose())
                .collect::<Result<Vec<_>, _>>()
                .map_err(unreadable)
        })
        .await
    }

    async fn projects_without_rsa_key(&self) -> StoreResult<Vec<String>> {
        self.read(move |conn| {
            conn.prepare("SELECT id FROM projects WHERE rsa_key IS NULL ORDER BY id")?
                .query_map([], |row| row.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
                .map_err(StoreError::from)
        })
        .await
    }
}
