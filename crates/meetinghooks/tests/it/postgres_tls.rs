//! PostgreSQL over TLS: `sslmode=verify-full` with the test server's own certificate works and
//! really encrypts; a certificate from an unknown issuer is refused.

use std::path::PathBuf;

use meetinghooks::store::postgres::PostgresStore;
use meetinghooks::Config;
use serde_json::json;

use crate::helpers::*;

/// The test server's certificate, which `scripts/postgres` copies next to its data folder.
async fn server_root_cert(admin: &str) -> PathBuf {
    let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let row = client.query_one("SHOW data_directory", &[]).await.unwrap();
    let data: String = row.get(0);
    let ssl: String = client.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    assert_eq!(
        ssl, "on",
        "the test PostgreSQL must have TLS on (scripts/postgres does)"
    );
    PathBuf::from(data).parent().unwrap().join("root.crt")
}

/// `url` with its options replaced by `options`.
fn with_options(url: &str, options: &str) -> String {
    let base = url.split('?').next().unwrap();
    format!("{base}?{options}")
}

#[tokio::test]
#[cfg_attr(not(has_postgres), ignore = "needs TEST_POSTGRES_URL")]
async fn verify_full_connects_with_the_servers_certificate_and_encrypts() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let root = server_root_cert(&admin).await;
    let database = fresh_postgres_database().await.unwrap();
    let url = with_options(
        &database,
        &format!("sslmode=verify-full&sslrootcert={}", root.display()),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        database_url: url,
        ..test_config(dir.path())
    };
    let app = TestApp::spawn_with(dir, config).await;
    let accepted = app
        .signals(json!([join("tls-1", "tls", "p", "2026-01-01T10:00:00Z")]))
        .await;
    assert!(accepted.status().is_success(), "{}", accepted.status());

    // The server's view: every connection to the app's database is encrypted.
    let name = database
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap();
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a
             JOIN pg_stat_ssl s ON s.pid = a.pid WHERE a.datname = $1",
            &[&name],
        )
        .await
        .unwrap();
    let (encrypted, all): (i64, i64) = (row.get(0), row.get(1));
    assert!(
        all > 0 && encrypted == all,
        "{encrypted} of {all} connections encrypted"
    );
    app.shutdown().await;
}

#[tokio::test]
#[cfg_attr(not(has_postgres), ignore = "needs TEST_POSTGRES_URL")]
async fn verify_full_refuses_a_certificate_it_cannot_trust() {
    let Some(_) = postgres_admin_url() else {
        return;
    };
    let database = fresh_postgres_database().await.unwrap();
    // A root that did not sign the server's certificate.
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("other.key"), dir.path().join("other.crt"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let url = with_options(
        &database,
        &format!("sslmode=verify-full&sslrootcert={}", cert.display()),
    );
    let engine = meetinghooks::engine::EngineConfig {
        reconnect_grace_ms: 1_000,
    };
    let error = PostgresStore::open(&url, 2, engine, test_sealer())
        .await
        .err()
        .expect("an untrusted server must be refused");
    let message = format!("{error:#}");
    assert!(
        message.contains("certificate") || message.contains("UnknownIssuer"),
        "{message}"
    );
}
