//! RSA keys: generation (2048-bit, slow, so never on a request's path), the PEM forms, and a
//! parsed signer that deliveries reuse.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, EncodeRsaPublicKey, LineEnding};
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::PrivateKey;
use sha2::Sha256;

/// The modulus size: what VideoSDK's verifiers expect, and what the issue asks at least.
pub const BITS: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum RsaKeyError {
    #[error("the stored RSA private key is not a PKCS#1 PEM: {0}")]
    Decode(String),
    #[error("RSA: {0}")]
    Rsa(String),
}

/// A new private key as PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`). Takes tens to hundreds of
/// milliseconds: call it from a blocking task.
pub fn generate_private_pem() -> Result<String, RsaKeyError> {
    let key =
        PrivateKey::new(&mut rand::rng(), BITS).map_err(|e| RsaKeyError::Rsa(e.to_string()))?;
    let pem = key
        .to_pkcs1_pem(LineEnding::LF)
        .map_err(|e| RsaKeyError::Rsa(e.to_string()))?;
    Ok(pem.to_string())
}

/// The public half of a private PEM, as PKCS#1 PEM (`BEGIN RSA PUBLIC KEY`): the form
/// Python's `rsa.PublicKey.load_pkcs1` reads, and Node's `crypto` reads too.
pub fn public_pem(private_pem: &str) -> Result<String, RsaKeyError> {
    VideosdkSigner::from_private_pem(private_pem)?.public_pem()
}

/// A parsed private key, ready to sign; parsing validates the key, so it is done once per key.
pub struct VideosdkSigner {
    key: SigningKey<Sha256>,
}

impl std::fmt::Debug for VideosdkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VideosdkSigner(…)")
    }
}

impl VideosdkSigner {
    pub fn from_private_pem(pem: &str) -> Result<VideosdkSigner, RsaKeyError> {
        let key =
            PrivateKey::from_pkcs1_pem(pem).map_err(|e| RsaKeyError::Decode(e.to_string()))?;
        Ok(VideosdkSigner {
            key: SigningKey::new(key),
        })
    }

    /// `videosdk-signature`: base64 (standard, padded) of the PKCS#1 v1.5 SHA-256 signature.
    pub fn sign(&self, body: &[u8]) -> String {
        STANDARD.encode(self.key.sign(body).to_bytes())
    }

    pub fn public_pem(&self) -> Result<String, RsaKeyError> {
        let private: &PrivateKey = self.key.as_ref();
        private
            .to_public_key()
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| RsaKeyError::Rsa(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;

    #[test]
    fn a_signature_verifies_with_the_pkcs1_public_key_and_not_over_other_bytes() {
        let pem = generate_private_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{pem}");
        let signer = VideosdkSigner::from_private_pem(&pem).unwrap();
        let public = signer.public_pem().unwrap();
        assert!(
            public.starts_with("-----BEGIN RSA PUBLIC KEY-----"),
            "{public}"
        );
        let verifier =
            VerifyingKey::<Sha256>::new(rsa::PublicKey::from_pkcs1_pem(&public).unwrap());
        let body =
            r#"{"webhookType":"participant-joined","data":{"participantName":"Zoë"}}"#.as_bytes();
        let signature = STANDARD.decode(signer.sign(body)).unwrap();
        assert_eq!(signature.len(), BITS / 8);
        let signature = Signature::try_from(&signature[..]).unwrap();
        verifier.verify(body, &signature).unwrap();
        assert!(verifier.verify(&body[1..], &signature).is_err());
    }
}
