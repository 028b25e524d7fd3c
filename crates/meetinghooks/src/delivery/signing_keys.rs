//! The parsed RSA keys deliveries sign `videosdk-signature` with, per project: parsed once
//! per key (parsing validates the key), reloaded with the endpoints, fetched on a miss.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::domain::endpoint::Endpoint;
use crate::domain::signatures::SignatureScheme;
use crate::domain::timestamp::Timestamp;
use crate::store::rsa_keys::ProjectRsaKeys;
use crate::store::{Store, StoreResult};
use crate::videosdk::{ensure_project_keys, VideosdkSigner};

/// One project's keys, as stored and parsed.
struct Parsed {
    stored: ProjectRsaKeys,
    current: Arc<VideosdkSigner>,
    next: Option<(Arc<VideosdkSigner>, Timestamp)>,
}

impl Parsed {
    fn new(stored: ProjectRsaKeys) -> Option<Parsed> {
        let parse = |pem: &str| match VideosdkSigner::from_private_pem(pem) {
            Ok(signer) => Some(Arc::new(signer)),
            Err(e) => {
                tracing::error!(project = %stored.project_id, error = %e, "unusable RSA key");
                None
            }
        };
        let current = parse(&stored.current)?;
        let next = match &stored.next {
            Some(next) => Some((parse(&next.private_pem)?, next.from)),
            None => None,
        };
        Some(Parsed {
            stored,
            current,
            next,
        })
    }

    fn signing(&self, now: Timestamp) -> Arc<VideosdkSigner> {
        match &self.next {
            Some((next, from)) if *from <= now => next.clone(),
            _ => self.current.clone(),
        }
    }
}

#[derive(Default)]
pub struct SigningKeys {
    by_project: RwLock<HashMap<String, Arc<Parsed>>>,
}

impl SigningKeys {
    /// The key that signs this endpoint's requests at `now`; `None` when it asked only for
    /// Standard Webhooks signatures. A project without a key gets one here.
    pub async fn signer(
        &self,
        store: &dyn Store,
        endpoint: &Endpoint,
        now: Timestamp,
    ) -> StoreResult<Option<Arc<VideosdkSigner>>> {
        if !endpoint.signatures.includes(SignatureScheme::Videosdk) {
            return Ok(None);
        }
        let cached = self.read().get(&endpoint.project_id).cloned();
        let parsed = match cached {
            Some(parsed) => parsed,
            None => {
                let keys = ensure_project_keys(store, &endpoint.project_id).await?;
                match self.insert(keys) {
                    Some(parsed) => parsed,
                    None => return Ok(None),
                }
            }
        };
        Ok(Some(parsed.signing(now)))
    }

    /// Takes every project's keys as stored now; only keys that changed are parsed again.
    pub async fn reload(&self, store: &dyn Store) -> StoreResult<()> {
        let all = store.all_rsa_keys().await?;
        let known: std::collections::HashSet<String> =
            all.iter().map(|k| k.project_id.clone()).collect();
        for keys in all {
            let unchanged = self
                .read()
                .get(&keys.project_id)
                .is_some_and(|parsed| parsed.stored == keys);
            if !unchanged {
                self.insert(keys);
            }
        }
        self.write().retain(|project, _| known.contains(project));
        Ok(())
    }

    fn insert(&self, keys: ProjectRsaKeys) -> Option<Arc<Parsed>> {
        let project = keys.project_id.clone();
        let parsed = Arc::new(Parsed::new(keys)?);
        self.write().insert(project, parsed.clone());
        Some(parsed)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Parsed>>> {
        self.by_project
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Parsed>>> {
        self.by_project
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
