//! The parsers that face the network, fed arbitrary bytes: the JSON body checks and the
//! signal batch parser never panic, whatever arrives.

use proptest::prelude::*;
use serde_json::Value;

use super::signals::SignalBatch;
use super::strict_json;
use crate::domain::signal::{parse_batch_within, SignalWindow};
use crate::domain::timestamp::Timestamp;

/// What a body would go through in `POST /v1/signals` after the size cap.
fn ingest_bytes(bytes: &[u8]) {
    if strict_json::check(bytes).is_err() {
        return;
    }
    let Ok(batch) = serde_json::from_slice::<SignalBatch>(bytes) else {
        return;
    };
    let window = SignalWindow {
        max_age_ms: 86_400_000,
        max_ahead_ms: 300_000,
    };
    let _ = parse_batch_within(batch.signals(), Timestamp::now(), window);
}

/// Signal-shaped JSON with arbitrary values in the known fields, so the parser's own rules run.
fn signal_like() -> impl Strategy<Value = Value> {
    // Mostly strings, so a signal gets past the wire types to the parser's own rules.
    let field = prop_oneof![
        4 => any::<String>().prop_map(Value::from),
        2 => "[a-z0-9._-]{0,3}|[a-z]{120,140}|[\\x{80}-\\x{10ffff}]{1,4}".prop_map(Value::from),
        2 => "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2})"
            .prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => Just(Value::Null),
    ];
    let kind = prop_oneof![
        Just("participant.joined"),
        Just("participant.left"),
        Just("recording.started"),
        Just("recording.stopped"),
        Just("livestream.started"),
        Just("hls.started"),
        Just("hls.stopped"),
    ];
    let names = prop_oneof![
        Just("id"),
        Just("type"),
        Just("meetingId"),
        Just("at"),
        Just("participantId"),
        Just("participantName"),
        Just("reason"),
        Just("fileId"),
        Just("lifecycleId"),
        Just("downstreamUrl"),
    ];
    let reason = prop_oneof![
        Just("left"),
        Just("disconnected"),
        Just("removed"),
        Just("gone")
    ];
    (
        proptest::collection::btree_map(names.prop_map(str::to_owned), field, 0..9),
        kind,
        reason,
    )
        .prop_map(|(fields, kind, reason)| {
            let mut signal: serde_json::Map<String, Value> = fields.into_iter().collect();
            signal.insert("type".into(), kind.into());
            signal.entry("meetingId").or_insert_with(|| "m-1".into());
            if signal.get("reason").is_some_and(Value::is_string) {
                signal.insert("reason".into(), reason.into());
            }
            Value::Object(signal)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        ingest_bytes(&bytes);
    }

    #[test]
    fn arbitrary_text_with_json_punctuation_never_panics(text in "[{}\\[\\]:,\"a-z0-9.\\\\ -]{0,256}") {
        ingest_bytes(text.as_bytes());
    }

    #[test]
    fn signal_shaped_batches_never_panic(signals in proptest::collection::vec(signal_like(), 0..8)) {
        let body = serde_json::to_vec(&serde_json::json!({ "signals": signals })).unwrap();
        ingest_bytes(&body);
    }
}
