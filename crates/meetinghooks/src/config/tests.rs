//! Unit tests of the settings: defaults, durations, secrets and the rules between values.

use super::*;

#[test]
fn durations() {
    assert_eq!(duration_text::parse("10s"), Some(Duration::from_secs(10)));
    assert_eq!(
        duration_text::parse("250ms"),
        Some(Duration::from_millis(250))
    );
    assert_eq!(duration_text::parse("2m"), Some(Duration::from_secs(120)));
    assert_eq!(duration_text::parse("3"), None);
    assert_eq!(duration_text::parse("ten"), None);
}

#[test]
fn secrets_are_not_printed() {
    let c = Config {
        bootstrap_api_key: Some(Secret("super-secret-key-123".into())),
        secret_key: Some(Secret("sealing-key-never-printed".into())),
        ..Config::default()
    };
    assert!(!format!("{c:?}").contains("super-secret"));
    assert!(!format!("{c:?}").contains("sealing-key"));
}

#[test]
fn keys_are_the_fields() {
    let keys = Config::keys();
    assert!(keys.contains(&"bootstrap_api_key".to_string()));
    assert!(keys.contains(&"reconnect_grace".to_string()));
    assert_eq!(keys.len(), 38, "{keys:?}");
}

#[test]
fn database_timeouts_stay_well_inside_a_lease() {
    let ok = Config {
        lease_duration: Duration::from_secs(3),
        request_timeout: Duration::from_secs(1),
        database_statement_timeout: Duration::from_secs(1),
        database_idle_in_transaction_timeout: Duration::from_secs(1),
        database_lock_timeout: Duration::from_millis(500),
        ..Config::default()
    };
    assert!(ok.validate().is_ok(), "{:?}", ok.validate());
    // The defaults fit the default lease, not a 3 s one.
    let short = Config {
        lease_duration: Duration::from_secs(3),
        request_timeout: Duration::from_secs(1),
        ..Config::default()
    };
    let text = short.validate().unwrap_err().to_string();
    for key in [
        "database_statement_timeout",
        "database_idle_in_transaction_timeout",
        "database_lock_timeout",
    ] {
        assert!(text.contains(&format!("{key} must be")), "{text}");
    }
    let idle = Config {
        database_idle_in_transaction_timeout: Duration::from_secs(31),
        ..Config::default()
    };
    let text = idle.validate().unwrap_err().to_string();
    assert!(
        text.contains("database_idle_in_transaction_timeout must be"),
        "{text}"
    );
}
