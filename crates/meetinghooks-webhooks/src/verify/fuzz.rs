//! The verifier faces the network: arbitrary bytes in every header, the body and the secret
//! never make it panic, and a signature it made itself still verifies over any body.

use proptest::prelude::*;

use super::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9 ,v1+/=-]{0,64}",
        Just(i64::MAX.to_string()),
        Just(i64::MIN.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_headers_and_bodies_never_panic(
        id in text(),
        timestamp in text(),
        signature in text(),
        body in proptest::collection::vec(any::<u8>(), 0..512),
        now in any::<i64>(),
        secret in text(),
    ) {
        let webhook = Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let headers = vec![
            (HEADER_ID, id.as_str()),
            (HEADER_TIMESTAMP, timestamp.as_str()),
            (HEADER_SIGNATURE, signature.as_str()),
        ];
        let _ = webhook.verify_at(&headers, &body, now);
        let _ = Webhook::new(&secret).map(|w| w.verify_raw_at(&headers, &body, now));
    }

    #[test]
    fn its_own_signature_verifies_over_any_body(
        id in any::<String>(),
        timestamp in -1_000_000_000_000i64..1_000_000_000_000,
        body in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let webhook = Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = webhook.sign(&id, timestamp, &body);
        let ts = timestamp.to_string();
        let headers = [
            (HEADER_ID, id.as_str()),
            (HEADER_TIMESTAMP, ts.as_str()),
            (HEADER_SIGNATURE, signature.as_str()),
        ];
        prop_assert!(webhook.verify_raw_at(&headers, &body, timestamp).is_ok());
    }
}
