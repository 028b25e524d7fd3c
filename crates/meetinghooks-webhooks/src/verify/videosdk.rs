//! VideoSDK's signature: `videosdk-signature`, base64 RSASSA-PKCS1-v1_5 with SHA-256 over the
//! exact body bytes, verified with the project's public key (`GET /v2/public/rsa-public-key`).

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::PublicKey;
use sha2::Sha256;

use super::HeaderLookup;
use crate::event::Event;

/// Header carrying VideoSDK's signature of the body.
pub const HEADER_VIDEOSDK_SIGNATURE: &str = "videosdk-signature";

/// Why a public key was refused by [`VideosdkVerifier::from_public_pem`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyError(String);

impl fmt::Display for PublicKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not an RSA public key in PEM (PKCS#1 or SPKI): {}",
            self.0
        )
    }
}

impl std::error::Error for PublicKeyError {}

/// Why a webhook failed VideoSDK verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideosdkVerifyError {
    /// The `videosdk-signature` header is absent.
    MissingSignature,
    /// The header is not base64 of a signature of this key's size.
    MalformedSignature,
    /// The signature does not match the body.
    BadSignature,
    /// The signature is valid but the body is not a known [`Event`].
    InvalidPayload(String),
}

impl fmt::Display for VideosdkVerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingSignature => write!(f, "missing {HEADER_VIDEOSDK_SIGNATURE} header"),
            Self::MalformedSignature => write!(
                f,
                "{HEADER_VIDEOSDK_SIGNATURE} is not a base64 RSA signature"
            ),
            Self::BadSignature => write!(f, "{HEADER_VIDEOSDK_SIGNATURE} does not match the body"),
            Self::InvalidPayload(e) => write!(f, "invalid webhook payload: {e}"),
        }
    }
}

impl std::error::Error for VideosdkVerifyError {}

/// A project's RSA public key; verifies `videosdk-signature`.
#[derive(Clone, Debug)]
pub struct VideosdkVerifier {
    key: VerifyingKey<Sha256>,
}

impl VideosdkVerifier {
    /// Reads `-----BEGIN RSA PUBLIC KEY-----` (PKCS#1, what meetinghooks serves) or
    /// `-----BEGIN PUBLIC KEY-----` (SPKI).
    pub fn from_public_pem(pem: &str) -> Result<VideosdkVerifier, PublicKeyError> {
        let pem = pem.trim();
        let key = PublicKey::from_pkcs1_pem(pem)
            .or_else(|_| PublicKey::from_public_key_pem(pem))
            .map_err(|e| PublicKeyError(e.to_string()))?;
        Ok(VideosdkVerifier {
            key: VerifyingKey::new(key),
        })
    }

    /// Checks a base64 signature over `body`, the raw bytes as received.
    pub fn verify_signature(
        &self,
        signature: &str,
        body: &[u8],
    ) -> Result<(), VideosdkVerifyError> {
        let raw = STANDARD
            .decode(signature.trim())
            .map_err(|_| VideosdkVerifyError::MalformedSignature)?;
        let signature =
            Signature::try_from(&raw[..]).map_err(|_| VideosdkVerifyError::MalformedSignature)?;
        self.key
            .verify(body, &signature)
            .map_err(|_| VideosdkVerifyError::BadSignature)
    }

    /// Checks the `videosdk-signature` header against the raw body, without parsing it.
    pub fn verify_raw(
        &self,
        headers: &(impl HeaderLookup + ?Sized),
        body: &[u8],
    ) -> Result<(), VideosdkVerifyError> {
        let signature = headers
            .header(HEADER_VIDEOSDK_SIGNATURE)
            .ok_or(VideosdkVerifyError::MissingSignature)?;
        self.verify_signature(signature, body)
    }

    /// Verifies, then parses the body. VideoSDK's signature has no timestamp: it does not
    /// guard against replays, so use `webhook-id` to drop repeats.
    pub fn verify(
        &self,
        headers: &(impl HeaderLookup + ?Sized),
        body: &[u8],
    ) -> Result<Event, VideosdkVerifyError> {
        self.verify_raw(headers, body)?;
        serde_json::from_slice(body).map_err(|e| VideosdkVerifyError::InvalidPayload(e.to_string()))
    }
}
