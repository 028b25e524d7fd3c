//! Identifiers: validation of caller-supplied ids and generation of our own.

use rand::RngExt;
use sha2::{Digest, Sha256};

pub const MAX_ID_LEN: usize = 128;

/// A meeting (room) id: 1-128 characters from `[A-Za-z0-9._-]`.
pub fn is_valid_meeting_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A room id in the platform's style, e.g. `jvsg-8rjn-j304`.
pub fn generate_room_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let mut out = String::with_capacity(14);
    for group in 0..3 {
        if group > 0 {
            out.push('-');
        }
        for _ in 0..4 {
            out.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
        }
    }
    out
}

/// `prefix` followed by `bytes` random bytes in lowercase hex.
pub fn random_hex_id(prefix: &str, bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::rng().fill(&mut raw[..]);
    let mut out = String::with_capacity(prefix.len() + bytes * 2);
    out.push_str(prefix);
    push_hex(&mut out, &raw);
    out
}

/// A 24-hex-character id derived from its parts, so replaying the same input yields the same id.
pub fn derived_hex24(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    let mut out = String::with_capacity(24);
    push_hex(&mut out, &digest[..12]);
    out
}

/// A new API key: `mhk_` and 32 random bytes, base64url. Shown once; only its hash is stored.
pub fn generate_api_key() -> String {
    use base64::Engine;
    let mut raw = [0u8; 32];
    rand::rng().fill(&mut raw[..]);
    format!(
        "mhk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    )
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xf) as usize] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meeting_ids() {
        assert!(is_valid_meeting_id("jvsg-8rjn-j304"));
        assert!(is_valid_meeting_id("A.b_c-9"));
        assert!(!is_valid_meeting_id(""));
        assert!(!is_valid_meeting_id("has space"));
        assert!(!is_valid_meeting_id(&"a".repeat(129)));
        assert!(is_valid_meeting_id(&generate_room_id()));
    }

    #[test]
    fn derived_ids_are_stable_hex() {
        let a = derived_hex24(&["m", "s1"]);
        assert_eq!(a, derived_hex24(&["m", "s1"]));
        assert_ne!(a, derived_hex24(&["m", "s2"]));
        assert_eq!(a.len(), 24);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }
}
