//! TLS to PostgreSQL with rustls, as libpq reads `sslmode` in the URL: `disable`, `prefer`
//! (the default: TLS when the server offers it), `require` (TLS always, certificate not
//! checked), `verify-full` (TLS, the chain checked against `sslrootcert` or the system's roots,
//! and the host name).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// What the URL asks of the connection's security.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSettings {
    /// `disable`, `prefer` or `require`: encrypted when TLS is used, the server not verified,
    /// as libpq does without a root certificate.
    Unverified,
    /// `verify-full`: the server proves it is the host the URL names.
    VerifyFull { root_cert: Option<PathBuf> },
}

/// Splits a `postgres://` URL into what tokio-postgres reads (with `verify-full` written as
/// `require`, and without `sslrootcert`, which it does not know) and the TLS settings.
pub fn split_url(url: &str) -> Result<(String, TlsSettings), String> {
    let mut parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let mut verify_full = false;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for (key, value) in parsed.query_pairs() {
        match (key.as_ref(), value.as_ref()) {
            ("sslmode", "verify-full") => {
                verify_full = true;
                kept.push(("sslmode".to_owned(), "require".to_owned()));
            }
            ("sslmode", "verify-ca") => {
                return Err("sslmode=verify-ca is not supported: use verify-full".into())
            }
            ("sslrootcert", path) => root_cert = Some(PathBuf::from(path)),
            (key, value) => kept.push((key.to_owned(), value.to_owned())),
        }
    }
    if root_cert.is_some() && !verify_full {
        return Err("sslrootcert needs sslmode=verify-full".into());
    }
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    let settings = if verify_full {
        TlsSettings::VerifyFull { root_cert }
    } else {
        TlsSettings::Unverified
    };
    Ok((parsed.into(), settings))
}

/// The connector for every connection of the store, the pool's and the listener's.
pub fn connector(settings: &TlsSettings) -> anyhow::Result<MakeRustlsConnect> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match settings {
        TlsSettings::Unverified => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth(),
        TlsSettings::VerifyFull { root_cert } => {
            let mut roots = RootCertStore::empty();
            match root_cert {
                Some(path) => {
                    for cert in CertificateDer::pem_file_iter(path)
                        .map_err(|e| anyhow::anyhow!("sslrootcert {}: {e}", path.display()))?
                    {
                        roots.add(cert?)?;
                    }
                }
                None => {
                    let found = rustls_native_certs::load_native_certs();
                    roots.add_parsable_certificates(found.certs);
                }
            }
            anyhow::ensure!(
                !roots.is_empty(),
                "sslmode=verify-full: no root certificate"
            );
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

/// Accepts any certificate, as libpq's `prefer` and `require` do, but still checks that the
/// handshake is signed by the certificate presented.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_full_is_read_and_hidden_from_tokio_postgres() {
        let (url, settings) =
            split_url("postgres://u:p@db:5432/mh?sslmode=verify-full&sslrootcert=/ca.pem").unwrap();
        assert_eq!(url, "postgres://u:p@db:5432/mh?sslmode=require");
        assert_eq!(
            settings,
            TlsSettings::VerifyFull {
                root_cert: Some("/ca.pem".into())
            }
        );
        let (url, settings) = split_url("postgres://db/mh?sslmode=require").unwrap();
        assert_eq!(url, "postgres://db/mh?sslmode=require");
        assert_eq!(settings, TlsSettings::Unverified);
        assert_eq!(split_url("postgres://db/mh").unwrap().0, "postgres://db/mh");
        assert!(split_url("postgres://db/mh?sslmode=verify-ca").is_err());
        assert!(split_url("postgres://db/mh?sslrootcert=/ca.pem").is_err());
    }
}
