//! Verifying a LiveKit webhook as LiveKit's own receiver does, and no looser: an HS256 JWT in
//! `Authorization` whose `iss` is a key of the source and whose `sha256` claim is the body's.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::sources::Source;

/// LiveKit's Go receiver (go-jose) allows this much clock skew on `nbf` and `exp`.
pub const LEEWAY_SECS: i64 = 60;

/// Why a request is not LiveKit's; each becomes a 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing Authorization header (LiveKit's JWT)")]
    MissingToken,
    #[error("Authorization is not a compact JWT")]
    Malformed,
    #[error("token algorithm {0:?} is refused: only HS256")]
    Algorithm(String),
    #[error("token issuer {0:?} is not an API key of this source")]
    UnknownIssuer(String),
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("token has no exp claim")]
    NoExpiry,
    #[error("token has no sha256 claim")]
    NoChecksum,
    #[error("body does not match the token's sha256 claim")]
    ChecksumMismatch,
}

/// The token in an `Authorization` value: LiveKit sends it bare; `Bearer ` is accepted too.
pub fn token_of(header: Option<&str>) -> Result<&str, VerifyError> {
    let value = header.map(str::trim).filter(|v| !v.is_empty());
    let value = value.ok_or(VerifyError::MissingToken)?;
    let token = value.strip_prefix("Bearer ").unwrap_or(value).trim();
    if token.split('.').count() != 3 {
        return Err(VerifyError::Malformed);
    }
    Ok(token)
}

#[derive(Deserialize)]
struct UnverifiedHeader {
    alg: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    exp: Option<i64>,
    nbf: Option<i64>,
    sha256: Option<String>,
}

/// The token's `iss` before any check, to find its source; nothing else may be trusted yet.
pub fn issuer(token: &str) -> Result<String, VerifyError> {
    check_algorithm(token)?;
    let claims: Claims = jsonwebtoken::dangerous::insecure_decode_claims(token)
        .map_err(|_| VerifyError::Malformed)?;
    claims.iss.ok_or(VerifyError::UnknownIssuer(String::new()))
}

/// Refuses any `alg` but HS256 by name, so `none` and the asymmetric ones get a clear error.
fn check_algorithm(token: &str) -> Result<(), VerifyError> {
    let encoded = token.split('.').next().ok_or(VerifyError::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .map_err(|_| VerifyError::Malformed)?;
    let header: UnverifiedHeader =
        serde_json::from_slice(&bytes).map_err(|_| VerifyError::Malformed)?;
    match header.alg.as_deref() {
        Some("HS256") => Ok(()),
        other => Err(VerifyError::Algorithm(other.unwrap_or("").to_owned())),
    }
}

/// Verifies `token` for `body` against `source`'s keys at `now_secs` (injected: tests replay
/// LiveKit's own vectors). Returns the API key that signed it.
pub fn verify(
    token: &str,
    body: &[u8],
    source: &Source,
    now_secs: i64,
) -> Result<String, VerifyError> {
    let api_key = issuer(token)?;
    let secret = source
        .secret_of(&api_key)
        .ok_or_else(|| VerifyError::UnknownIssuer(api_key.clone()))?;
    let key = DecodingKey::from_secret(secret.as_bytes()).map_err(|_| VerifyError::BadSignature)?;
    // The crate checks the signature and the algorithm; times are checked below against the
    // injected clock.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[&api_key]);
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                VerifyError::Algorithm("not HS256".into())
            }
            jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                VerifyError::UnknownIssuer(api_key.clone())
            }
            _ => VerifyError::BadSignature,
        })?
        .claims;
    let exp = claims.exp.ok_or(VerifyError::NoExpiry)?;
    if now_secs > exp.saturating_add(LEEWAY_SECS) {
        return Err(VerifyError::Expired);
    }
    if claims
        .nbf
        .is_some_and(|nbf| now_secs < nbf.saturating_sub(LEEWAY_SECS))
    {
        return Err(VerifyError::NotYetValid);
    }
    let claimed = claims.sha256.ok_or(VerifyError::NoChecksum)?;
    // Over the raw bytes as received: never re-serialized.
    let actual = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body));
    if !bool::from(claimed.as_bytes().ct_eq(actual.as_bytes())) {
        return Err(VerifyError::ChecksumMismatch);
    }
    Ok(api_key)
}
