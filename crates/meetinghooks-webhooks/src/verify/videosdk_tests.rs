//! `videosdk-signature` verification against a signature made by OpenSSL
//! (`openssl dgst -sha256 -sign`), so the verifier is checked against an independent signer.

use std::collections::HashMap;

use super::videosdk::{VideosdkVerifier, VideosdkVerifyError, HEADER_VIDEOSDK_SIGNATURE};

const PKCS1: &str = "-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAtegQQmbhdEAu6qhc03Y/s5QGzbk5CILaOp7Ny8sOq8m/KmZIMUY4
SkZBUkBawVvVGvqm0uBZFXZizWuJXAnxvrXBIiBOb3K5FNTMpj7ZXskC74XLVNKk
ovTpHUbeLiAAfFqvICxF0qF4pvl9GJJyvvNW2IFkkGh4ZMmYKXNu+HxQYgEW3XTQ
Nts6+YAaQHwKdH518KTKvWcgEzAgW3TIUThlUnn5EjTWd9RoNds26mVX6rPfKfZG
jvLFQOozP8UWxs2jd89Rz9HtJNvl/zSq/PnR2cT5VHlOuO1AS2TMQSUa/+WFgIfu
eYNkSK9DrGq1mKKLNtpMUZsX9G0rCui2eQIDAQAB
-----END RSA PUBLIC KEY-----
";
const SPKI: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtegQQmbhdEAu6qhc03Y/
s5QGzbk5CILaOp7Ny8sOq8m/KmZIMUY4SkZBUkBawVvVGvqm0uBZFXZizWuJXAnx
vrXBIiBOb3K5FNTMpj7ZXskC74XLVNKkovTpHUbeLiAAfFqvICxF0qF4pvl9GJJy
vvNW2IFkkGh4ZMmYKXNu+HxQYgEW3XTQNts6+YAaQHwKdH518KTKvWcgEzAgW3TI
UThlUnn5EjTWd9RoNds26mVX6rPfKfZGjvLFQOozP8UWxs2jd89Rz9HtJNvl/zSq
/PnR2cT5VHlOuO1AS2TMQSUa/+WFgIfueYNkSK9DrGq1mKKLNtpMUZsX9G0rCui2
eQIDAQAB
-----END PUBLIC KEY-----
";
const BODY: &str = r#"{"webhookType":"participant-joined","data":{"meetingId":"jvsg-8rjn-j304","sessionId":"613731342f27f56e4fc4b6d0","participantId":"fkd74h","participantName":"Zoë"}}"#;
const SIGNATURE: &str = "tOGqJdJ/OYVoFTKSCZSGsE16pZL6iw/5JEfrpV1JquID/ZLpJmEpDsXZCmzlsBgoDCU1IoYZ1jKiUNMYArpD/Q2LqorpsNoMQNv2w4xTPNeJweuYL8nX4fK2cA3ZY1GXfdpMyh5JmbAVO+Q72RHSQCcpViB25ib1izbvcGvbF6AJZBb8IFwjy2TTYGLhrlU6e5hnDOXzsROa+kDDDFTY49QQc6tBf4cXlHaBAknIMRSnlV40qpjhbYkECi5yaXRmbyZXQswJuPQ2WdHheRN6jkMzoC/3yoxY3txl44D5NTUnSpk2qSFSu/6xUPDxZRUCByZhY6Gz331aecaCaKJvFw==";

fn headers(signature: &str) -> HashMap<String, String> {
    HashMap::from([(HEADER_VIDEOSDK_SIGNATURE.to_owned(), signature.to_owned())])
}

#[test]
fn an_openssl_signature_verifies_with_either_pem_form_and_parses() {
    for pem in [PKCS1, SPKI] {
        let verifier = VideosdkVerifier::from_public_pem(pem).unwrap();
        let event = verifier
            .verify(&headers(SIGNATURE), BODY.as_bytes())
            .unwrap();
        assert_eq!(event.webhook_type().as_str(), "participant-joined");
    }
}

#[test]
fn a_changed_byte_a_malformed_or_missing_header_is_refused() {
    let verifier = VideosdkVerifier::from_public_pem(PKCS1).unwrap();
    let tampered = BODY.replace("Zoë", "Zoe");
    assert_eq!(
        verifier.verify_raw(&headers(SIGNATURE), tampered.as_bytes()),
        Err(VideosdkVerifyError::BadSignature)
    );
    assert_eq!(
        verifier.verify_raw(&headers("not base64!"), BODY.as_bytes()),
        Err(VideosdkVerifyError::MalformedSignature)
    );
    assert_eq!(
        verifier.verify_raw(&HashMap::<String, String>::new(), BODY.as_bytes()),
        Err(VideosdkVerifyError::MissingSignature)
    );
    assert!(VideosdkVerifier::from_public_pem(
        "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----"
    )
    .is_err());
}
