//! Secrets at rest: the key that seals signing secrets, header values and URL credentials
//! before a store writes them, and opens them after it reads. Memory holds them in the clear; rows and backups never.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngExt;
use sha2::{Digest, Sha256};

use crate::domain::endpoint::Endpoint;
use crate::domain::url_credentials;

/// Every sealed value starts with this; anything else in a secret column is from before
/// sealing and is sealed at the next start.
const PREFIX: &str = "sealed:v1:";
/// The name of the key file `serve` creates next to an SQLite database when no key is set.
pub const KEY_FILE: &str = "secret.key";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("a sealed value was sealed with key {0}, which is not configured (secret_key or previous_secret_keys)")]
    UnknownKey(String),
    #[error("a sealed value does not open with its key: the data or the key is wrong")]
    Corrupt,
    #[error("a secret column holds an unsealed value")]
    NotSealed,
}

/// One 32-byte key and its short public id (the first 4 bytes of its SHA-256, in hex).
struct SealingKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl SealingKey {
    fn new(bytes: [u8; 32]) -> SealingKey {
        let digest = Sha256::digest(bytes);
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        SealingKey {
            id,
            cipher: XChaCha20Poly1305::new(&Key::from(bytes)),
        }
    }
}

/// Seals with the current key; opens with the current key or any previous one.
pub struct Sealer {
    current: SealingKey,
    previous: Vec<SealingKey>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealer(key {})", self.current.id)
    }
}

/// Decodes a key as written in the config: 32 bytes in base64 (standard or URL-safe).
pub fn parse_key(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let bytes = STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
        .ok()?;
    bytes.try_into().ok()
}

/// A new random key, as `parse_key` reads it.
pub fn generate_key() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill(&mut raw[..]);
    STANDARD.encode(raw)
}

impl Sealer {
    /// `current` seals; `previous` keys only open, until a start re-seals what they sealed.
    pub fn new(current: [u8; 32], previous: &[[u8; 32]]) -> Sealer {
        Sealer {
            current: SealingKey::new(current),
            previous: previous.iter().copied().map(SealingKey::new).collect(),
        }
    }

    /// A sealer with a fresh random key, for tests and tools that keep nothing.
    pub fn ephemeral() -> Sealer {
        Sealer::new(
            parse_key(&generate_key()).expect("a generated key parses"),
            &[],
        )
    }

    /// The key in `folder/secret.key`, created (mode 0600) with a random key when missing.
    pub fn key_file(folder: &Path) -> std::io::Result<(String, PathBuf)> {
        let path = folder.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                make_private(&path)?;
                Ok((text.trim().to_owned(), path))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(folder)?;
                let key = generate_key();
                write_private(&path, &key)?;
                Ok((key, path))
            }
            Err(e) => Err(e),
        }
    }

    pub fn seal(&self, plaintext: &str) -> String {
        let nonce: [u8; 24] = {
            let mut raw = [0u8; 24];
            rand::rng().fill(&mut raw[..]);
            raw
        };
        let sealed = self
            .current
            .cipher
            .encrypt(&XNonce::from(nonce), plaintext.as_bytes())
            .expect("sealing in memory cannot fail");
        let mut body = nonce.to_vec();
        body.extend_from_slice(&sealed);
        format!(
            "{PREFIX}{}:{}",
            self.current.id,
            URL_SAFE_NO_PAD.encode(body)
        )
    }

    pub fn open(&self, stored: &str) -> Result<String, SealError> {
        let rest = stored.strip_prefix(PREFIX).ok_or(SealError::NotSealed)?;
        let (id, body) = rest.split_once(':').ok_or(SealError::Corrupt)?;
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or_else(|| SealError::UnknownKey(id.to_owned()))?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealError::Corrupt)?;
        if body.len() < 24 {
            return Err(SealError::Corrupt);
        }
        let (nonce, sealed) = body.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().expect("24 bytes");
        let plain = key
            .cipher
            .decrypt(&XNonce::from(nonce), sealed)
            .map_err(|_| SealError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| SealError::Corrupt)
    }

    /// Whether a stored value must be rewritten at start: unsealed, or sealed with an old key.
    pub fn needs_resealing(&self, stored: &str) -> bool {
        match stored.strip_prefix(PREFIX) {
            Some(rest) => !rest.starts_with(&format!("{}:", self.current.id)),
            None => true,
        }
    }

    /// The value sealed with the current key: opened first if sealed before, else taken as
    /// the plaintext it was before sealing existed.
    pub fn reseal(&self, stored: &str) -> Result<String, SealError> {
        let plain = match self.open(stored) {
            Ok(plain) => plain,
            Err(SealError::NotSealed) => stored.to_owned(),
            Err(e) => return Err(e),
        };
        Ok(self.seal(&plain))
    }

    /// A webhook URL as a store writes it: sealed whole when it carries credentials
    /// (`user:pass@`), as given otherwise (most URLs, readable in the row).
    pub fn seal_url(&self, url: &str) -> String {
        if url_credentials::has_credentials(url) {
            self.seal(url)
        } else {
            url.to_owned()
        }
    }

    /// A stored webhook URL, opened if it was sealed.
    pub fn open_url(&self, stored: &str) -> Result<String, SealError> {
        if stored.starts_with(PREFIX) {
            self.open(stored)
        } else {
            Ok(stored.to_owned())
        }
    }

    /// Whether a stored URL must be rewritten at start: credentials in the clear, or sealed
    /// with an old key.
    pub fn url_needs_resealing(&self, stored: &str) -> bool {
        if stored.starts_with(PREFIX) {
            self.needs_resealing(stored)
        } else {
            url_credentials::has_credentials(stored)
        }
    }

    /// The stored URL as it is written now.
    pub fn reseal_url(&self, stored: &str) -> Result<String, SealError> {
        Ok(self.seal_url(&self.open_url(stored)?))
    }

    /// The endpoint as a store writes it: secrets, header values and URL credentials sealed.
    pub fn seal_endpoint(&self, endpoint: &Endpoint) -> Endpoint {
        Endpoint {
            url: self.seal_url(&endpoint.url),
            secret: self.seal(&endpoint.secret),
            secret_previous: endpoint.secret_previous.as_deref().map(|s| self.seal(s)),
            headers: self.seal_headers(&endpoint.headers),
            ..endpoint.clone()
        }
    }

    /// The endpoint as read from a row, opened in place.
    pub fn open_endpoint(&self, mut endpoint: Endpoint) -> Result<Endpoint, SealError> {
        endpoint.url = self.open_url(&endpoint.url)?;
        endpoint.secret = self.open(&endpoint.secret)?;
        if let Some(previous) = &endpoint.secret_previous {
            endpoint.secret_previous = Some(self.open(previous)?);
        }
        for value in endpoint.headers.values_mut() {
            *value = self.open(value)?;
        }
        Ok(endpoint)
    }

    pub fn seal_headers(&self, headers: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        headers
            .iter()
            .map(|(name, value)| (name.clone(), self.seal(value)))
            .collect()
    }
}

/// Creates a new file readable by its owner only; an error if it exists.
pub fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Makes an existing file readable by its owner only (files an older version created 0644),
/// and says so once when it changed anything; a missing file is left alone.
pub fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = match std::fs::metadata(path) {
            Ok(metadata) => metadata.permissions().mode() & 0o777,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if mode & 0o077 != 0 {
            // A file the service may read but not change (another owner, a read-only mount)
            // is the operator's choice: say so, and still start.
            if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
                tracing::warn!(
                    path = %path.display(),
                    error = %e,
                    "the file holds secrets and is readable by others ({mode:04o}); could not make it 0600"
                );
                return Ok(());
            }
            tracing::warn!(
                path = %path.display(),
                "tightened the file's mode from {mode:04o} to 0600: it holds secrets"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = create_private(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_and_hide_the_plaintext() {
        let sealer = Sealer::ephemeral();
        let sealed = sealer.seal("whsec_abc");
        assert!(sealed.starts_with(PREFIX) && !sealed.contains("whsec_"));
        assert_ne!(sealed, sealer.seal("whsec_abc"), "a fresh nonce every time");
        assert_eq!(sealer.open(&sealed).unwrap(), "whsec_abc");
        assert!(!sealer.needs_resealing(&sealed));
    }

    #[test]
    fn a_tampered_value_or_a_wrong_key_does_not_open() {
        let sealer = Sealer::ephemeral();
        let mut sealed = sealer.seal("whsec_abc");
        let last = sealed.pop().unwrap();
        sealed.push(if last == 'A' { 'B' } else { 'A' });
        assert!(matches!(sealer.open(&sealed), Err(SealError::Corrupt)));
        let other = Sealer::ephemeral();
        assert!(matches!(
            other.open(&sealer.seal("x")),
            Err(SealError::UnknownKey(_))
        ));
        assert!(matches!(
            sealer.open("whsec_plain"),
            Err(SealError::NotSealed)
        ));
    }

    #[test]
    fn rotation_opens_with_the_previous_key_and_reseals_with_the_new() {
        let old = parse_key(&generate_key()).unwrap();
        let new = parse_key(&generate_key()).unwrap();
        let before = Sealer::new(old, &[]).seal("whsec_abc");
        let after = Sealer::new(new, &[old]);
        assert!(after.needs_resealing(&before));
        let resealed = after.reseal(&before).unwrap();
        assert!(!after.needs_resealing(&resealed));
        assert_eq!(Sealer::new(new, &[]).open(&resealed).unwrap(), "whsec_abc");
        assert!(after.needs_resealing("whsec_plain"));
        assert_eq!(
            after.open(&after.reseal("whsec_plain").unwrap()).unwrap(),
            "whsec_plain"
        );
    }

    #[test]
    fn urls_with_credentials_are_sealed_others_stay_readable() {
        let sealer = Sealer::ephemeral();
        let plain = "https://hooks.example.com/h";
        assert_eq!(sealer.seal_url(plain), plain);
        assert!(!sealer.url_needs_resealing(plain));
        let secret = "https://ghp_SECRETTOKEN@hooks.example.com/h";
        let sealed = sealer.seal_url(secret);
        assert!(!sealed.contains("SECRETTOKEN") && !sealed.contains("hooks.example"));
        assert_eq!(sealer.open_url(&sealed).unwrap(), secret);
        assert!(sealer.url_needs_resealing(secret) && !sealer.url_needs_resealing(&sealed));
        assert_eq!(
            sealer
                .open_url(&sealer.reseal_url(secret).unwrap())
                .unwrap(),
            secret
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_open_file_is_made_private_and_a_missing_one_left_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        std::fs::write(&path, "x").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        make_private(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        make_private(&dir.path().join("missing")).unwrap();
        assert!(!dir.path().join("missing").exists());
    }

    #[test]
    fn the_key_file_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let (first, path) = Sealer::key_file(dir.path()).unwrap();
        let (second, _) = Sealer::key_file(dir.path()).unwrap();
        assert_eq!(first, second);
        assert!(parse_key(&first).is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
