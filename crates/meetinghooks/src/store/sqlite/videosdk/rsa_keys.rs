//! Projects' RSA keys in SQLite: rotating them in one writer job, and resealing them at start
//! (the rest is written once, in `store::rsa_keys`).

use async_trait::async_trait;
use rusqlite::{params, Connection};

use super::super::query::select;
use super::super::SqliteStore;
use crate::domain::timestamp::Timestamp;
use crate::sealing::Sealer;
use crate::store::query::Param;
use crate::store::rsa_keys::{opened, rotated, ProjectRsaKeys, RotateRsaKey, COLUMNS};
use crate::store::{StoreError, StoreResult};

fn get(
    conn: &Connection,
    sealer: &Sealer,
    project_id: &str,
) -> StoreResult<Option<ProjectRsaKeys>> {
    let sql = format!("SELECT {COLUMNS} FROM projects WHERE id = $1");
    let rows = select(conn, &sql, &[Param::from(project_id)])?;
    let row = rows.first().ok_or(StoreError::NotFound("project"))?;
    opened(sealer, row)
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

#[async_trait]
impl RotateRsaKey for SqliteStore {
    async fn rotate(
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
    }
}
