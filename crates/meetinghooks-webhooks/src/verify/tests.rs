//! Tests of `verify`.

use super::*;
use crate::event::{MeetingRef, ParticipantData};

// Vector A (JavaScript and Python reference libraries).
const A_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const A_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const A_TS: i64 = 1614265330;
const A_BODY: &str = r#"{"test": 2432232314}"#;
const A_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

// Vector B (Rust reference library).
const B_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const B_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const B_TS: i64 = 1649367553;
const B_BODY: &str = r#"{"email":"test@example.com","username":"test_user"}"#;
const B_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

fn headers(id: &str, ts: &str, sig: &str) -> HashMap<String, String> {
    HashMap::from([
        (HEADER_ID.to_owned(), id.to_owned()),
        (HEADER_TIMESTAMP.to_owned(), ts.to_owned()),
        (HEADER_SIGNATURE.to_owned(), sig.to_owned()),
    ])
}

fn verify_a(sig: &str) -> Result<(), VerifyError> {
    let wh = Webhook::new(A_SECRET).unwrap();
    wh.verify_raw_at(
        &headers(A_ID, &A_TS.to_string(), sig),
        A_BODY.as_bytes(),
        A_TS,
    )
}

#[test]
fn vector_a_signs_and_verifies() {
    let wh = Webhook::new(A_SECRET).unwrap();
    assert_eq!(wh.sign(A_ID, A_TS, A_BODY.as_bytes()), A_SIG);
    assert_eq!(verify_a(A_SIG), Ok(()));
}

#[test]
fn vector_b_signs_and_verifies() {
    let wh = Webhook::new(B_SECRET).unwrap();
    assert_eq!(wh.sign(B_ID, B_TS, B_BODY.as_bytes()), B_SIG);
    let h = headers(B_ID, &B_TS.to_string(), B_SIG);
    assert_eq!(wh.verify_raw_at(&h, B_BODY.as_bytes(), B_TS), Ok(()));
}

#[test]
fn secret_without_prefix_works() {
    let wh = Webhook::new(A_SECRET.strip_prefix("whsec_").unwrap()).unwrap();
    assert_eq!(wh.sign(A_ID, A_TS, A_BODY.as_bytes()), A_SIG);
    let wh = Webhook::new(B_SECRET.strip_prefix("whsec_").unwrap()).unwrap();
    assert_eq!(wh.sign(B_ID, B_TS, B_BODY.as_bytes()), B_SIG);
}

#[test]
fn bad_secrets_are_rejected() {
    assert_eq!(Webhook::new("").unwrap_err(), SecretError::Empty);
    assert_eq!(Webhook::new("whsec_").unwrap_err(), SecretError::Empty);
    assert_eq!(
        Webhook::new("whsec_not base64!").unwrap_err(),
        SecretError::InvalidBase64
    );
    assert_eq!(
        Webhook::new("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS").unwrap_err(),
        SecretError::InvalidBase64
    );
}

#[test]
fn changed_last_character_fails() {
    assert_eq!(
        verify_a("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn truncated_signature_fails() {
    assert_eq!(verify_a("v1,g0hM9"), Err(VerifyError::NoMatchingSignature));
    // A prefix that is itself valid base64 must fail too.
    assert_eq!(
        verify_a("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ"),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn empty_signature_fails() {
    assert_eq!(verify_a("v1,"), Err(VerifyError::NoMatchingSignature));
    assert_eq!(verify_a(""), Err(VerifyError::NoMatchingSignature));
}

#[test]
fn signature_over_other_body_or_id_fails() {
    let wh = Webhook::new(A_SECRET).unwrap();
    let h = headers(A_ID, &A_TS.to_string(), A_SIG);
    assert_eq!(
        wh.verify_raw_at(&h, br#"{"test": 2432232315}"#, A_TS),
        Err(VerifyError::NoMatchingSignature)
    );
    let h = headers("msg_other", &A_TS.to_string(), A_SIG);
    assert_eq!(
        wh.verify_raw_at(&h, A_BODY.as_bytes(), A_TS),
        Err(VerifyError::NoMatchingSignature)
    );
    let other = Webhook::new(B_SECRET).unwrap();
    let h = headers(A_ID, &A_TS.to_string(), A_SIG);
    assert_eq!(
        other.verify_raw_at(&h, A_BODY.as_bytes(), A_TS),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn timestamp_tolerance() {
    let wh = Webhook::new(A_SECRET).unwrap();
    let check = |ts: i64, now: i64| {
        let sig = wh.sign(A_ID, ts, A_BODY.as_bytes());
        wh.verify_raw_at(
            &headers(A_ID, &ts.to_string(), &sig),
            A_BODY.as_bytes(),
            now,
        )
    };
    assert_eq!(check(A_TS, A_TS + 300), Ok(()));
    assert_eq!(check(A_TS, A_TS - 300), Ok(()));
    assert_eq!(check(A_TS, A_TS + 301), Err(VerifyError::TimestampTooOld));
    assert_eq!(check(A_TS, A_TS - 301), Err(VerifyError::TimestampTooNew));
    assert_eq!(check(i64::MIN, 0), Err(VerifyError::TimestampTooOld));
    assert_eq!(check(i64::MAX, 0), Err(VerifyError::TimestampTooNew));
    // The vector's own signature is too old against today's clock.
    let h = headers(A_ID, &A_TS.to_string(), A_SIG);
    assert_eq!(
        wh.verify_raw(&h, A_BODY.as_bytes()),
        Err(VerifyError::TimestampTooOld)
    );
}

#[test]
fn non_numeric_timestamp_fails() {
    let wh = Webhook::new(A_SECRET).unwrap();
    for ts in ["hello", "", "1614265330.5", "99999999999999999999"] {
        let h = headers(A_ID, ts, A_SIG);
        assert_eq!(
            wh.verify_raw_at(&h, A_BODY.as_bytes(), A_TS),
            Err(VerifyError::InvalidTimestamp),
            "{ts:?}"
        );
    }
}

#[test]
fn each_missing_header_fails() {
    let wh = Webhook::new(A_SECRET).unwrap();
    for (name, err) in [
        (HEADER_ID, VerifyError::MissingId),
        (HEADER_TIMESTAMP, VerifyError::MissingTimestamp),
        (HEADER_SIGNATURE, VerifyError::MissingSignature),
    ] {
        let mut h = headers(A_ID, &A_TS.to_string(), A_SIG);
        h.remove(name);
        assert_eq!(wh.verify_raw_at(&h, A_BODY.as_bytes(), A_TS), Err(err));
    }
}

#[test]
fn valid_signature_among_decoys_passes() {
    let d1 = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
    let d2 = "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
    for sig in [
        format!("{d1} {d2} {A_SIG}"),
        format!("{A_SIG} {d1} {d2}"),
        format!("{d2} {A_SIG} {d1}"),
        format!("v1a,abc v1,%%% {A_SIG}"),
    ] {
        assert_eq!(verify_a(&sig), Ok(()), "{sig}");
    }
    assert_eq!(
        verify_a(&format!("{d1} {d2}")),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn non_v1_version_with_valid_mac_is_ignored() {
    let mac = A_SIG.strip_prefix("v1,").unwrap();
    assert_eq!(
        verify_a(&format!("v2,{mac}")),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn header_lookup_is_case_insensitive_across_impls() {
    let wh = Webhook::new(A_SECRET).unwrap();
    let ts = A_TS.to_string();
    let pairs = [
        ("Webhook-Id", A_ID),
        ("WEBHOOK-TIMESTAMP", ts.as_str()),
        ("webhook-Signature", A_SIG),
    ];
    let body = A_BODY.as_bytes();
    assert_eq!(wh.verify_raw_at(&pairs, body, A_TS), Ok(()));
    assert_eq!(wh.verify_raw_at(&pairs[..], body, A_TS), Ok(()));
    let owned: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(wh.verify_raw_at(&owned, body, A_TS), Ok(()));
    let map: HashMap<String, String> = owned.iter().cloned().collect();
    assert_eq!(wh.verify_raw_at(&map, body, A_TS), Ok(()));
    let btree: BTreeMap<&str, &str> = pairs.into_iter().collect();
    assert_eq!(wh.verify_raw_at(&btree, body, A_TS), Ok(()));
    assert_eq!(wh.verify_raw_at(&&btree, body, A_TS), Ok(()));
}

#[cfg(feature = "http")]
#[test]
fn http_header_map() {
    let wh = Webhook::new(A_SECRET).unwrap();
    let mut h = http::HeaderMap::new();
    h.insert("Webhook-Id", A_ID.parse().unwrap());
    h.insert("webhook-timestamp", A_TS.to_string().parse().unwrap());
    h.insert("webhook-signature", A_SIG.parse().unwrap());
    assert_eq!(wh.verify_raw_at(&h, A_BODY.as_bytes(), A_TS), Ok(()));
    h.remove("webhook-id");
    assert_eq!(
        wh.verify_raw_at(&h, A_BODY.as_bytes(), A_TS),
        Err(VerifyError::MissingId)
    );
}

#[test]
fn verify_parses_event() {
    let wh = Webhook::new(B_SECRET).unwrap();
    let event = Event::RecordingStarted(MeetingRef {
        meeting_id: "m".into(),
        session_id: "s".into(),
    });
    let body = event.to_json_bytes();
    let now = now_unix();
    let sig = wh.sign("msg_1", now, &body);
    let h = headers("msg_1", &now.to_string(), &sig);
    assert_eq!(wh.verify_at(&h, &body, now), Ok(event.clone()));
    assert_eq!(wh.verify(&h, &body), Ok(event));
}

#[test]
fn verify_reports_invalid_payload_after_signature_check() {
    let wh = Webhook::new(A_SECRET).unwrap();
    let h = headers(A_ID, &A_TS.to_string(), A_SIG);
    assert!(matches!(
        wh.verify_at(&h, A_BODY.as_bytes(), A_TS),
        Err(VerifyError::InvalidPayload(_))
    ));
    // A well-formed event with a bad signature is rejected before parsing.
    let body = Event::ParticipantJoined(ParticipantData {
        meeting_id: "m".into(),
        session_id: "s".into(),
        participant_id: "p".into(),
        participant_name: "n".into(),
    })
    .to_json_bytes();
    assert_eq!(
        wh.verify_at(&h, &body, A_TS),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn error_messages() {
    assert_eq!(
        VerifyError::MissingId.to_string(),
        "missing webhook-id header"
    );
    assert_eq!(
        VerifyError::InvalidPayload("x".into()).to_string(),
        "invalid webhook payload: x"
    );
    assert_eq!(SecretError::Empty.to_string(), "webhook secret is empty");
    assert_eq!(
        format!("{:?}", Webhook::new(A_SECRET).unwrap()),
        "Webhook { .. }"
    );
}
