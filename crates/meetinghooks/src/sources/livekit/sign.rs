//! Signing as a LiveKit server signs its webhooks, for `simulate --livekit` and tests: an
//! HS256 JWT with `iss` = the API key, valid for 5 minutes, whose `sha256` claim is
//! base64(SHA-256(body)).

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// LiveKit's `SetValidFor(5 * time.Minute)`.
const VALID_FOR_SECS: i64 = 300;

#[derive(Serialize)]
struct Claims<'a> {
    exp: i64,
    iss: &'a str,
    nbf: i64,
    sha256: String,
}

/// The `Authorization` value LiveKit sends for `body` at `now_secs`: the bare token.
pub fn sign(api_key: &str, api_secret: &str, body: &[u8], now_secs: i64) -> String {
    let claims = Claims {
        exp: now_secs + VALID_FOR_SECS,
        iss: api_key,
        nbf: now_secs,
        sha256: base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body)),
    };
    let key = EncodingKey::from_secret(api_secret.as_bytes()).expect("an HMAC key of any length");
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
        .expect("HS256 over serializable claims")
}
