//! The LiveKit source against LiveKit's own byte-exact vector, the must-fail list of issue 13,
//! and the decoding and mapping rules.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::event::{DisconnectReason, EgressStatus, OutputKind};
use super::*;
use crate::domain::signal::{LeaveReason, SignalKind};
use crate::sources::{HlsRewrite, SourceKey, SourceKind};

/// From livekit/node-sdks `WebhookReceiver.test.ts`, byte for byte (note the spaces).
const BODY: &str = r#"{"event":"room_started", "room":{"sid":"RM_TkVjUvAqgzKz", "name":"mytestroom", "emptyTimeout":300, "creationTime":"1628545903", "turnPassword":"ICkSr2rEeslkN6e9bXL4Ji5zzMD5Z7zzr6ulOaxMj6N", "enabledCodecs":[{"mime":"audio/opus"}, {"mime":"video/VP8"}]}}"#;
const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE2Mjg1NDYyMDMsImlzcyI6ImFiY2RlZmciLCJuYmYiOjE2Mjg1NDU5MDMsInNoYTI1NiI6IkNvRVF6MWNocUo5Ym5aUmNPUmRkanBsa3Zwam1QdWptTFRSNDJEYmVmWUk9In0.QcVj7oF3NILXgvN7Znl3ZX-ZOg2V9P8lJVXJ9aVNQhU";
const NBF: i64 = 1_628_545_903;
const EXP: i64 = 1_628_546_203;

fn source(keys: &[(&str, &str)]) -> Source {
    Source {
        id: "src_1".into(),
        project_id: "prj_1".into(),
        kind: SourceKind::LiveKit,
        keys: keys
            .iter()
            .map(|(k, s)| SourceKey {
                api_key: (*k).into(),
                api_secret: (*s).into(),
            })
            .collect(),
        hls_rewrite: None,
        created_at: Timestamp(0),
    }
}

fn at(secs: i64) -> Timestamp {
    Timestamp(secs * 1000)
}

fn checksum(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body))
}

/// A token as LiveKit mints one, with `alg` and times chosen by the test.
fn token(alg: Algorithm, key: &str, secret: &str, body: &[u8], nbf: i64, exp: i64) -> String {
    let claims = json!({"iss": key, "nbf": nbf, "exp": exp, "sha256": checksum(body), "sub": ""});
    jsonwebtoken::encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn b64url(value: serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

fn auth_error(result: Result<Received, ReceiveError>) -> VerifyError {
    match result {
        Err(ReceiveError::Auth(e)) => e,
        other => panic!("expected an auth error, got {other:?}"),
    }
}

#[test]
fn livekits_own_vector_verifies_with_an_injected_clock() {
    assert_eq!(
        checksum(BODY.as_bytes()),
        "CoEQz1chqJ9bnZRcORddjplkvpjmPujmLTR42DbefYI="
    );
    let src = source(&[("abcdefg", "abababa")]);
    for now in [NBF - 60, NBF, EXP, EXP + 60] {
        let received = receive(Some(TOKEN), BODY.as_bytes(), &src, at(now)).unwrap();
        assert_eq!(received.event.event, "room_started");
        assert_eq!(received.event.room.as_ref().unwrap().name, "mytestroom");
        assert_eq!(
            received.mapped,
            Mapped::Ignored(Ignored::NoCatalogEvent("room_started".into()))
        );
    }
    // `Bearer ` is tolerated; the key may be any of the source's pairs.
    let rotated = source(&[("old", "x"), ("abcdefg", "abababa")]);
    let bearer = format!("Bearer {TOKEN}");
    receive(Some(&bearer), BODY.as_bytes(), &rotated, at(NBF)).unwrap();
}

#[test]
fn the_must_fail_list() {
    let src = source(&[("abcdefg", "abababa")]);
    let body = BODY.as_bytes();
    let now = at(NBF + 10);
    let check = |auth: Option<&str>, body: &[u8], src: &Source, now: Timestamp| {
        auth_error(receive(auth, body, src, now))
    };
    // wrong secret
    let t = token(
        Algorithm::HS256,
        "abcdefg",
        "not-the-secret",
        body,
        NBF,
        EXP,
    );
    assert_eq!(check(Some(&t), body, &src, now), VerifyError::BadSignature);
    // unknown iss
    let t = token(Algorithm::HS256, "stranger", "abababa", body, NBF, EXP);
    assert_eq!(
        check(Some(&t), body, &src, now),
        VerifyError::UnknownIssuer("stranger".into())
    );
    // alg: none, with and without a signature
    let claims = json!({"iss":"abcdefg","nbf":NBF,"exp":EXP,"sha256":checksum(body)});
    let none = format!(
        "{}.{}.",
        b64url(json!({"alg":"none","typ":"JWT"})),
        b64url(claims.clone())
    );
    assert_eq!(
        check(Some(&none), body, &src, now),
        VerifyError::Algorithm("none".into())
    );
    // alg: HS512, correctly signed with the right secret
    let t = token(Algorithm::HS512, "abcdefg", "abababa", body, NBF, EXP);
    assert_eq!(
        check(Some(&t), body, &src, now),
        VerifyError::Algorithm("HS512".into())
    );
    // RS256 (the key-confusion attack signs with the secret as if it were a public key)
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 256]);
    let rs = format!(
        "{}.{}.{sig}",
        b64url(json!({"alg":"RS256","typ":"JWT"})),
        b64url(claims)
    );
    assert_eq!(
        check(Some(&rs), body, &src, now),
        VerifyError::Algorithm("RS256".into())
    );
    // tampered body
    let tampered = BODY.replace("mytestroom", "mytestroon");
    assert_eq!(
        check(Some(TOKEN), tampered.as_bytes(), &src, now),
        VerifyError::ChecksumMismatch
    );
    // one extra space: the same JSON, other bytes
    let spaced = BODY.replacen("\"room\":", "\"room\": ", 1);
    assert_eq!(
        check(Some(TOKEN), spaced.as_bytes(), &src, now),
        VerifyError::ChecksumMismatch
    );
    // expired beyond the 60 s leeway
    assert_eq!(
        check(Some(TOKEN), body, &src, at(EXP + 61)),
        VerifyError::Expired
    );
    // nbf in the future beyond the leeway
    assert_eq!(
        check(Some(TOKEN), body, &src, at(NBF - 61)),
        VerifyError::NotYetValid
    );
    // missing header, empty header, not a JWT
    assert_eq!(check(None, body, &src, now), VerifyError::MissingToken);
    assert_eq!(check(Some(" "), body, &src, now), VerifyError::MissingToken);
    assert_eq!(
        check(Some("Bearer abc"), body, &src, now),
        VerifyError::Malformed
    );
    // a token for another source: signed with that source's key pair
    let other = source(&[("other-key", "other-secret")]);
    assert_eq!(
        check(Some(TOKEN), body, &other, now),
        VerifyError::UnknownIssuer("abcdefg".into())
    );
    // no sha256 claim at all
    let bare = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"iss":"abcdefg","nbf":NBF,"exp":EXP}),
        &EncodingKey::from_secret(b"abababa").unwrap(),
    )
    .unwrap();
    assert_eq!(check(Some(&bare), body, &src, now), VerifyError::NoChecksum);
}

pub(super) fn signed_receive(body: &serde_json::Value) -> Result<Received, ReceiveError> {
    let src = Source {
        hls_rewrite: Some(HlsRewrite {
            from: "https://meet-hls.s3.amazonaws.com/".into(),
            to: "https://cdn.example.com/".into(),
        }),
        ..source(&[("k", "s")])
    };
    let bytes = body.to_string().into_bytes();
    let t = token(
        Algorithm::HS256,
        "k",
        "s",
        &bytes,
        1_700_000_000,
        1_800_000_000,
    );
    receive(Some(&t), &bytes, &src, at(1_700_000_100))
}

fn signals(body: serde_json::Value) -> Vec<Signal> {
    match signed_receive(&body).unwrap().mapped {
        Mapped::Signals(s) => s,
        other => panic!("expected signals, got {other:?}"),
    }
}

use crate::domain::signal::Signal;

#[test]
fn decodes_protojson_leniently() {
    let camel = WebhookEvent::decode(
        br#"{"event":"participant_left","id":"EV_1","createdAt":"1700000010",
        "room":{"name":"r"},"participant":{"identity":"u","joinedAtMs":"1700000000500",
        "disconnectReason":"CLIENT_INITIATED","futureField":{"x":1}},"brandNew":true}"#,
    )
    .unwrap();
    let snake = WebhookEvent::decode(
        br#"{"event":"participant_left","id":"EV_1","created_at":1700000010,
        "room":{"name":"r"},"participant":{"identity":"u","joined_at_ms":1700000000500,
        "disconnect_reason":1}}"#,
    )
    .unwrap();
    assert_eq!(camel.participant, snake.participant);
    assert_eq!(camel.created_at, snake.created_at);
    assert_eq!(
        camel.participant.as_ref().unwrap().disconnect_reason,
        DisconnectReason::ClientInitiated
    );
    assert_eq!(camel.unknown_fields(), 1, "brandNew is counted");
    assert_eq!(snake.unknown_fields(), 0);
    // Omitted defaults: no status is STARTING, no reason is UNKNOWN.
    let started = WebhookEvent::decode(
        br#"{"event":"egress_started","egressInfo":{"egressId":"EG_1","roomName":"r",
        "roomComposite":{"fileOutputs":[{"filepath":"x.mp4"}]}}}"#,
    )
    .unwrap();
    let egress = started.egress_info.unwrap();
    assert_eq!(egress.status, EgressStatus::Starting);
    assert_eq!(egress.outputs(), vec![OutputKind::File]);
    let numbered = WebhookEvent::decode(
        br#"{"event":"egress_ended","egress_info":{"egress_id":"EG_1","room_name":"r","status":3,
        "stream_results":[{"url":"rtmp://x"}]}}"#,
    )
    .unwrap();
    let egress = numbered.egress_info.unwrap();
    assert_eq!(egress.status, EgressStatus::Complete);
    assert_eq!(egress.outputs(), vec![OutputKind::Stream]);
    for bad in [
        &b"[]"[..],
        b"not json",
        br#"{"room":{}}"#,
        br#"{"event":7}"#,
    ] {
        assert!(
            WebhookEvent::decode(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn maps_participants() {
    let joined = signals(
        json!({"event":"participant_joined","id":"EV_j","createdAt":"1700000012",
        "room":{"sid":"RM_1","name":"daily-standup"},
        "participant":{"sid":"PA_1","identity":"user-42","name":"Alice","state":"ACTIVE",
            "joinedAt":"1700000011","joinedAtMs":"1700000011345"}}),
    );
    assert_eq!(joined.len(), 1);
    assert_eq!(joined[0].id, "EV_j");
    assert_eq!(joined[0].meeting_id, "daily-standup");
    assert_eq!(joined[0].at, Timestamp(1_700_000_011_345));
    assert_eq!(
        joined[0].kind,
        SignalKind::ParticipantJoined {
            participant_id: "user-42".into(),
            participant_name: "Alice".into()
        }
    );
    let reasons = [
        ("CLIENT_INITIATED", LeaveReason::Left),
        ("PARTICIPANT_REMOVED", LeaveReason::Removed),
        ("ROOM_DELETED", LeaveReason::Removed),
        ("ROOM_CLOSED", LeaveReason::Removed),
        ("SIGNAL_CLOSE", LeaveReason::Disconnected),
        ("CONNECTION_TIMEOUT", LeaveReason::Disconnected),
        ("MIGRATION", LeaveReason::Disconnected),
    ];
    for (name, reason) in reasons {
        let left = signals(
            json!({"event":"participant_left","id":"EV_l","createdAt":"1700000011",
            "room":{"name":"daily-standup"},
            "participant":{"identity":"user-42","joinedAtMs":"1700000011345","disconnectReason":name}}),
        );
        assert_eq!(
            left[0].kind,
            SignalKind::ParticipantLeft {
                participant_id: "user-42".into(),
                reason
            },
            "{name}"
        );
        // Within the same second as its join, a leave still comes after it.
        assert_eq!(left[0].at, Timestamp(1_700_000_011_346));
    }
    let no_reason = signals(
        json!({"event":"participant_left","id":"EV_l","createdAt":"1700000020",
        "room":{"name":"daily-standup"},"participant":{"identity":"user-42"}}),
    );
    assert!(matches!(
        no_reason[0].kind,
        SignalKind::ParticipantLeft {
            reason: LeaveReason::Disconnected,
            ..
        }
    ));
    let aborted = signals(json!({"event":"participant_connection_aborted","id":"EV_a",
        "createdAt":"1700000030","room":{"name":"daily-standup"},
        "participant":{"identity":"user-77","disconnectReason":"JOIN_FAILURE"}}));
    assert!(matches!(
        aborted[0].kind,
        SignalKind::ParticipantLeft {
            reason: LeaveReason::Disconnected,
            ..
        }
    ));
    // A name is required by the catalog: the identity stands in.
    let nameless = signals(json!({"event":"participant_joined","id":"EV_n",
        "room":{"name":"daily-standup"},"participant":{"identity":"user-9"}}));
    assert!(matches!(&nameless[0].kind,
        SignalKind::ParticipantJoined { participant_name, .. } if participant_name == "user-9"));
}

#[test]
fn maps_rooms_and_refuses_what_it_cannot_represent() {
    let finished = signed_receive(&json!({"event":"room_finished","id":"EV_f",
        "createdAt":"1700000090","room":{"sid":"RM_1","name":"daily-standup"}}))
    .unwrap();
    assert_eq!(
        finished.mapped,
        Mapped::EndSession {
            meeting_id: "daily-standup".into(),
            at: at(1_700_000_090)
        }
    );
    let unknown = signed_receive(&json!({"event":"room_exploded","id":"EV_x"})).unwrap();
    assert_eq!(
        unknown.mapped,
        Mapped::Ignored(Ignored::UnknownEvent("room_exploded".into()))
    );
    for bad in [
        json!({"event":"participant_joined","room":{"name":""},"participant":{"identity":"u"}}),
        json!({"event":"participant_joined","room":{"name":"r"}}),
        json!({"event":"participant_joined","room":{"name":"r"},"participant":{"identity":""}}),
        json!({"event":"egress_updated"}),
        json!({"notAnEvent":true}),
    ] {
        assert!(
            matches!(signed_receive(&bad), Err(ReceiveError::Body(_))),
            "{bad}"
        );
    }
    // A room name that is no meeting id becomes `lk-` and a digest of it: stable, and
    // distinct per name; readable names stay as they are.
    let room = |name: &str| {
        signals(json!({"event":"participant_joined","room":{"name":name},
            "participant":{"identity":"u"}}))[0]
            .meeting_id
            .clone()
    };
    let spaced = room("Daily stand-up");
    assert!(spaced.starts_with("lk-") && spaced.len() == 27, "{spaced}");
    assert!(crate::domain::ids::is_valid_meeting_id(&spaced));
    assert_eq!(room("Daily stand-up"), spaced);
    assert_ne!(room("Daily stand-up!"), spaced);
    assert_ne!(room("会議"), room("会议"));
    assert_eq!(room(&"x".repeat(129)).len(), 27);
    assert_eq!(room("daily-standup"), "daily-standup");
    // Without an id, the signed body's digest is the idempotency key: stable for retries.
    let body =
        json!({"event":"participant_joined","room":{"name":"r"},"participant":{"identity":"u"}});
    let (a, b) = (signals(body.clone()), signals(body));
    assert!(a[0].id.starts_with("lk_"));
    assert_eq!(a[0].id, b[0].id);
}

#[test]
fn signs_as_livekit_signs() {
    let src = source(&[("abcdefg", "abababa")]);
    let token = sign::sign("abcdefg", "abababa", BODY.as_bytes(), NBF);
    receive(Some(&token), BODY.as_bytes(), &src, at(NBF + 299)).unwrap();
    // Valid for 5 minutes (plus the leeway), like LiveKit's.
    let late = receive(Some(&token), BODY.as_bytes(), &src, at(NBF + 300 + 61));
    assert_eq!(auth_error(late), VerifyError::Expired);
}

#[test]
fn debug_output_never_shows_a_secret() {
    let src = source(&[("abcdefg", "abababa")]);
    let shown = format!("{src:?}");
    assert!(
        shown.contains("abcdefg") && !shown.contains("abababa"),
        "{shown}"
    );
}
