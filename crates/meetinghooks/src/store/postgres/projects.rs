//! Projects and their API keys.

use super::error::{PgError, PgResult};
use super::{PostgresStore, MAX_RETRIES};
use crate::domain::ids::random_hex_id;
use crate::domain::timestamp::Timestamp;
use crate::store::rows;
use crate::store::{project_name_taken, Project, StoreError, StoreResult};

pub(super) async fn create_project(
    store: &PostgresStore,
    name: &str,
    key_hash: [u8; 32],
) -> StoreResult<Project> {
    let project = Project {
        id: random_hex_id("prj_", 12),
        name: name.to_owned(),
    };
    let now = Timestamp::now().0;
    let created = transact!(store, |tx| async {
        let inserted = tx
            .execute(
                "INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING",
                &[&project.id, &project.name, &now],
            )
            .await?;
        if inserted == 0 {
            return PgResult::Ok(None);
        }
        tx.execute(
            "INSERT INTO api_keys (key_hash, project_id, created_at) VALUES ($1, $2, $3)",
            &[&&key_hash[..], &project.id, &now],
        )
        .await?;
        PgResult::Ok(Some(project.clone()))
    })?;
    created.ok_or_else(|| project_name_taken(name))
}

pub(super) async fn ensure_project_key(
    store: &PostgresStore,
    name: &str,
    key_hash: [u8; 32],
) -> StoreResult<Project> {
    let now = Timestamp::now().0;
    let id = random_hex_id("prj_", 12);
    transact!(store, |tx| async {
        tx.execute(
            "INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
            &[&id, &name, &now],
        )
        .await?;
        let project = rows::project(
            &tx.query_one("SELECT id, name FROM projects WHERE name = $1", &[&name])
                .await?,
        )?;
        tx.execute(
            "INSERT INTO api_keys (key_hash, project_id, created_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&&key_hash[..], &project.id, &now],
        )
        .await?;
        PgResult::Ok(project)
    })
}

pub(super) async fn project_by_key(
    store: &PostgresStore,
    key_hash: [u8; 32],
) -> StoreResult<Option<Project>> {
    let client = store.client().await?;
    let statement = client
        .prepare_cached(
            "SELECT p.id, p.name FROM api_keys k JOIN projects p ON p.id = k.project_id
             WHERE k.key_hash = $1",
        )
        .await
        .map_err(PgError::from)?;
    let row = client
        .query_opt(&statement, &[&&key_hash[..]])
        .await
        .map_err(PgError::from)?;
    Ok(row
        .as_ref()
        .map(rows::project)
        .transpose()
        .map_err(PgError::from)?)
}
