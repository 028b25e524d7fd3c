//! Projects and their first API key, written once over the shared query executor.

use super::query::{args, Commit, Query, Step};
use super::rows;
use super::{project_name_taken, Project, StoreError, StoreResult};
use crate::domain::ids::random_hex_id;
use crate::domain::timestamp::Timestamp;

/// A new project with this key; a taken name is refused and nothing is kept.
pub(crate) async fn create(
    store: &impl Query,
    name: &str,
    key_hash: [u8; 32],
) -> StoreResult<Project> {
    let project = Project {
        id: random_hex_id("prj_", 12),
        name: name.to_owned(),
    };
    let now = Timestamp::now().0;
    let taken = project.name.clone();
    let steps = vec![
        Step::new(
            "INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
            args![&project.id, &project.name, now],
        )
        .or_refuse(move || project_name_taken(&taken)),
        Step::new(
            "INSERT INTO api_keys (key_hash, project_id, created_at) VALUES ($1, $2, $3)",
            args![&key_hash[..], &project.id, now],
        ),
    ];
    store.transaction(steps, Commit::Durable).await?;
    Ok(project)
}

/// The project of this name, created if missing, accepting this key.
pub(crate) async fn ensure_key(
    store: &impl Query,
    name: &str,
    key_hash: [u8; 32],
) -> StoreResult<Project> {
    let now = Timestamp::now().0;
    let steps = vec![
        Step::new(
            "INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            args![random_hex_id("prj_", 12), name, now],
        ),
        Step::new(
            "INSERT INTO api_keys (key_hash, project_id, created_at)
             VALUES ($1, (SELECT id FROM projects WHERE name = $2), $3) ON CONFLICT DO NOTHING",
            args![&key_hash[..], name, now],
        ),
    ];
    store.transaction(steps, Commit::Durable).await?;
    let sql = "SELECT id, name FROM projects WHERE name = $1";
    store
        .first(sql, args![name], rows::project)
        .await?
        .ok_or(StoreError::NotFound("project"))
}

/// The project a key hash belongs to.
pub(crate) async fn by_key(store: &impl Query, key_hash: [u8; 32]) -> StoreResult<Option<Project>> {
    let sql = "SELECT p.id, p.name FROM api_keys k JOIN projects p ON p.id = k.project_id
               WHERE k.key_hash = $1";
    store.first(sql, args![&key_hash[..]], rows::project).await
}
