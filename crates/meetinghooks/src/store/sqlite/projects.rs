//! Projects and their API keys.

use rusqlite::{params, Connection};

use crate::domain::ids::random_hex_id;
use crate::domain::timestamp::Timestamp;
use crate::store::rows;
use crate::store::{project_name_taken, Project, StoreResult};

const PROJECT_BY_NAME: &str = "SELECT id, name FROM projects WHERE name = ?1";

/// A new project with this key; a taken name is refused.
pub(super) fn create(conn: &Connection, name: String, key_hash: [u8; 32]) -> StoreResult<Project> {
    let project = Project {
        id: random_hex_id("prj_", 12),
        name,
    };
    let now = Timestamp::now().0;
    let inserted = conn.execute(
        "INSERT INTO projects (id, name, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO NOTHING",
        params![project.id, project.name, now],
    )?;
    if inserted == 0 {
        return Err(project_name_taken(&project.name));
    }
    conn.execute(
        "INSERT INTO api_keys (key_hash, project_id, created_at) VALUES (?1, ?2, ?3)",
        params![&key_hash[..], project.id, now],
    )?;
    Ok(project)
}

/// The project of this name, created if missing, accepting this key.
pub(super) fn ensure_key(
    conn: &Connection,
    name: &str,
    key_hash: [u8; 32],
) -> StoreResult<Project> {
    let now = Timestamp::now().0;
    conn.execute(
        "INSERT OR IGNORE INTO projects (id, name, created_at) VALUES (?1, ?2, ?3)",
        params![random_hex_id("prj_", 12), name, now],
    )?;
    let project = conn.query_row(PROJECT_BY_NAME, [name], |row| rows::project(row))?;
    conn.execute(
        "INSERT OR IGNORE INTO api_keys (key_hash, project_id, created_at) VALUES (?1, ?2, ?3)",
        params![&key_hash[..], project.id, now],
    )?;
    Ok(project)
}
