//! Projects' RSA keys, which sign `videosdk-signature`: the current private key and, after a
//! rotation, the next one with the time it starts signing. Sealed at rest like every secret.
//!
//! A separate trait (a supertrait of `Store`) so each store keeps this SQL in its own file.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::timestamp::Timestamp;

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
