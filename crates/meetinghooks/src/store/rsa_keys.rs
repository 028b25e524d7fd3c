//! Projects' RSA keys, which sign `videosdk-signature`: the current private key and, after a
//! rotation, the next one with the time it starts signing. Sealed at rest like every secret.
//!
//! A separate trait (a supertrait of `Store`), written once over the shared query executor;
//! only rotating, a read-modify-write under each dialect's own lock, is the stores' own.

use async_trait::async_trait;

use super::changes::Changes;
use super::query::{args, Commit, Query, Row};
use super::rows::Columns;
use super::{StoreError, StoreResult};
use crate::domain::timestamp::Timestamp;
use crate::sealing::Sealer;

/// A project's RSA private keys, as PKCS#1 PEM, open in memory.
#[derive(Clone, PartialEq, Eq)]
pub struct ProjectRsaKeys {
    pub project_id: String,
    pub current: String,
    /// After a rotation: the new key and when it takes over. Until then both are published.
    pub next: Option<NextRsaKey>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct NextRsaKey {
    pub private_pem: String,
    pub from: Timestamp,
}

impl std::fmt::Debug for ProjectRsaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProjectRsaKeys({}, …)", self.project_id)
    }
}

impl ProjectRsaKeys {
    /// The key that signs at `now`: the next one once its time has come.
    pub fn signing(&self, now: Timestamp) -> &str {
        match &self.next {
            Some(next) if next.from <= now => &next.private_pem,
            _ => &self.current,
        }
    }

    /// The next key while it does not sign yet.
    pub fn upcoming(&self, now: Timestamp) -> Option<&NextRsaKey> {
        self.next.as_ref().filter(|next| next.from > now)
    }
}

#[async_trait]
pub trait RsaKeyStore: Send + Sync + 'static {
    /// The project's keys; `None` while it has none yet (projects from before RSA keys).
    async fn rsa_keys(&self, project_id: &str) -> StoreResult<Option<ProjectRsaKeys>>;
    /// Stores `private_pem` as the project's key unless it has one; returns the keys in force.
    async fn set_rsa_key_if_absent(
        &self,
        project_id: &str,
        private_pem: String,
    ) -> StoreResult<ProjectRsaKeys>;
    /// The key signing at `now` stays current; `next_pem` takes over at `from`. A next key
    /// not yet in force is replaced. Announces `Changes::ENDPOINTS` so senders reload keys.
    async fn rotate_rsa_key(
        &self,
        project_id: &str,
        next_pem: String,
        from: Timestamp,
        now: Timestamp,
    ) -> StoreResult<ProjectRsaKeys>;
    /// Every project's keys, for the dispatcher.
    async fn all_rsa_keys(&self) -> StoreResult<Vec<ProjectRsaKeys>>;
    /// Ids of the projects with no key yet.
    async fn projects_without_rsa_key(&self) -> StoreResult<Vec<String>>;
}

/// Rotating a project's keys, each dialect under its own lock: SQLite's single writer,
/// PostgreSQL's project row.
#[async_trait]
pub(crate) trait RotateRsaKey {
    /// As [`RsaKeyStore::rotate_rsa_key`], without the announcement.
    async fn rotate(
        &self,
        project_id: &str,
        next_pem: String,
        from: Timestamp,
        now: Timestamp,
    ) -> StoreResult<ProjectRsaKeys>;
}

pub(crate) const COLUMNS: &str = "id, rsa_key, rsa_key_next, rsa_key_next_from";

#[async_trait]
impl<S: Query + RotateRsaKey + 'static> RsaKeyStore for S {
    async fn rsa_keys(&self, project_id: &str) -> StoreResult<Option<ProjectRsaKeys>> {
        let sql = format!("SELECT {COLUMNS} FROM projects WHERE id = $1");
        let sealer = self.sealer();
        let row = self.first(&sql, args![project_id], |row| opened(sealer, row));
        row.await?.ok_or(StoreError::NotFound("project"))
    }

    /// One conditional update: of two nodes generating a first key, the first to commit wins.
    async fn set_rsa_key_if_absent(
        &self,
        project_id: &str,
        private_pem: String,
    ) -> StoreResult<ProjectRsaKeys> {
        let sealed = self.sealer().seal(&private_pem);
        self.execute(
            "UPDATE projects SET rsa_key = $2, rsa_key_next = NULL, rsa_key_next_from = NULL
             WHERE id = $1 AND rsa_key IS NULL",
            args![project_id, sealed],
            Commit::Durable,
        )
        .await?;
        self.announce(Changes::ENDPOINTS);
        self.rsa_keys(project_id)
            .await?
            .ok_or_else(|| StoreError::Internal("a project's RSA key vanished".into()))
    }

    async fn rotate_rsa_key(
        &self,
        project_id: &str,
        next_pem: String,
        from: Timestamp,
        now: Timestamp,
    ) -> StoreResult<ProjectRsaKeys> {
        let keys = self.rotate(project_id, next_pem, from, now).await?;
        self.announce(Changes::ENDPOINTS);
        Ok(keys)
    }

    async fn all_rsa_keys(&self) -> StoreResult<Vec<ProjectRsaKeys>> {
        let sql = format!("SELECT {COLUMNS} FROM projects WHERE rsa_key IS NOT NULL");
        let sealer = self.sealer();
        let keys = self.all(&sql, args![], |row| opened(sealer, row)).await?;
        Ok(keys.into_iter().flatten().collect())
    }

    async fn projects_without_rsa_key(&self) -> StoreResult<Vec<String>> {
        let sql = "SELECT id FROM projects WHERE rsa_key IS NULL ORDER BY id";
        self.all(sql, args![], |row| row.text(0)).await
    }
}

/// A project's keys from its [`COLUMNS`], opened; `None` while it has none.
pub(crate) fn opened(sealer: &Sealer, row: &Row) -> StoreResult<Option<ProjectRsaKeys>> {
    let unreadable = |e: crate::sealing::SealError| StoreError::Internal(e.to_string());
    let Some(key) = row.opt_text(1)? else {
        return Ok(None);
    };
    let next = match (row.opt_text(2)?, row.opt_int(3)?) {
        (Some(next), Some(from)) => Some(NextRsaKey {
            private_pem: sealer.open(&next).map_err(unreadable)?,
            from: Timestamp(from),
        }),
        _ => None,
    };
    Ok(Some(ProjectRsaKeys {
        project_id: row.text(0)?,
        current: sealer.open(&key).map_err(unreadable)?,
        next,
    }))
}

/// The rotated row: what signs at `now` becomes current, `next_pem` its successor.
pub(crate) fn rotated(
    keys: &ProjectRsaKeys,
    next_pem: String,
    from: Timestamp,
    now: Timestamp,
) -> ProjectRsaKeys {
    ProjectRsaKeys {
        project_id: keys.project_id.clone(),
        current: keys.signing(now).to_owned(),
        next: Some(NextRsaKey {
            private_pem: next_pem,
            from,
        }),
    }
}
