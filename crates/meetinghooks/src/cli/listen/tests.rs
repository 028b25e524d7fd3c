//! Tests of `listen`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use meetinghooks_webhooks::{
    ParticipantData, VerifyError, Webhook, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use tokio::sync::{mpsc, oneshot};

use super::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Running {
    url: String,
    first_line: String,
    lines: mpsc::UnboundedReceiver<String>,
    // Dropping it at the end of the test shuts the server down.
    _stop: oneshot::Sender<()>,
}

async fn start(secret: Option<&str>, forward_to: Option<String>) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/any/path", listener.local_addr().unwrap());
    let (out, mut lines) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let args = ListenArgs {
        port: 0,
        host: [127, 0, 0, 1].into(),
        secret: secret.map(str::to_owned),
        forward_to,
        public_key: None,
        fetch_public_key: false,
        client: crate::cli::client::ClientArgs {
            url: "http://127.0.0.1:1".into(),
            api_key: None,
        },
    };
    tokio::spawn(serve(args, listener, out, async {
        let _ = stopped.await;
    }));
    let first_line = next(&mut lines).await;
    Running {
        url,
        first_line,
        lines,
        _stop: stop,
    }
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("nothing arrived within 10s")
        .expect("the sender is gone")
}

fn joined_body() -> Vec<u8> {
    Event::ParticipantJoined(ParticipantData {
        meeting_id: "mtg_1".into(),
        session_id: "ses_1".into(),
        participant_id: "p_1".into(),
        participant_name: "Ada Lovelace".into(),
    })
    .to_json_bytes()
}

/// Standard Webhooks headers signing `body` now, as the server sends them.
fn signed_headers(body: &[u8]) -> HeaderMap {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let signature = Webhook::new(SECRET).unwrap().sign("msg_1", now, body);
    let mut headers = HeaderMap::new();
    headers.insert(HEADER_ID, "msg_1".parse().unwrap());
    headers.insert(HEADER_TIMESTAMP, now.to_string().parse().unwrap());
    headers.insert(HEADER_SIGNATURE, signature.parse().unwrap());
    headers.insert(HEADER_SEQUENCE, "7".parse().unwrap());
    headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    headers
}

async fn post(url: &str, headers: HeaderMap, body: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn verified_webhook_is_accepted_and_printed() {
    let mut listen = start(Some(SECRET), None).await;
    assert!(
        listen.first_line.ends_with("(verifying signatures)"),
        "{}",
        listen.first_line
    );
    let body = joined_body();
    let response = post(&listen.url, signed_headers(&body), body).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let block = next(&mut listen.lines).await;
    assert!(
        block.starts_with("✓ participant-joined #7 id=msg_1 meeting=mtg_1 session=ses_1\n  {\n"),
        "{block}"
    );
    assert!(
        block.contains("\n      \"participantName\": \"Ada Lovelace\"\n"),
        "{block}"
    );
}

#[tokio::test]
async fn tampered_body_is_rejected() {
    let mut listen = start(Some(SECRET), None).await;
    let body = joined_body();
    let headers = signed_headers(&body);
    let tampered = String::from_utf8(body).unwrap().replace("Ada", "Eve");
    let response = post(&listen.url, headers, tampered.into_bytes()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        next(&mut listen.lines).await,
        format!("✗ rejected msg_1: {}", VerifyError::NoMatchingSignature)
    );
}

#[tokio::test]
async fn forwards_the_exact_request_and_relays_the_status() {
    let (seen_tx, mut seen) = mpsc::unbounded_channel::<(HeaderMap, Bytes)>();
    let target = Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let seen_tx = seen_tx.clone();
        async move {
            let _ = seen_tx.send((headers, body));
            StatusCode::ACCEPTED
        }
    });
    let target_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target_url = format!("http://{}/hooks", target_listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(target_listener, target).await });

    let mut listen = start(Some(SECRET), Some(target_url.clone())).await;
    let body = joined_body();
    let headers = signed_headers(&body);
    let response = post(&listen.url, headers.clone(), body.clone()).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);

    let (forwarded_headers, forwarded_body) = next(&mut seen).await;
    assert_eq!(forwarded_body, body);
    for name in [
        HEADER_ID,
        HEADER_TIMESTAMP,
        HEADER_SIGNATURE,
        HEADER_SEQUENCE,
        header::CONTENT_TYPE.as_str(),
    ] {
        assert_eq!(forwarded_headers.get(name), headers.get(name), "{name}");
    }
    assert!(next(&mut listen.lines)
        .await
        .starts_with("✓ participant-joined"));
    assert_eq!(
        next(&mut listen.lines).await,
        format!("→ forwarded to {target_url}: 202 Accepted")
    );
}

#[tokio::test]
async fn unreachable_forward_target_gives_502() {
    // A port that was just free and now has nobody listening on it.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target_url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let mut listen = start(Some(SECRET), Some(target_url.clone())).await;
    let body = joined_body();
    let response = post(&listen.url, signed_headers(&body), body).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    next(&mut listen.lines).await;
    let line = next(&mut listen.lines).await;
    assert!(
        line.starts_with(&format!("→ forwarding to {target_url} failed: ")),
        "{line}"
    );
}

#[tokio::test]
async fn without_a_secret_anything_is_accepted() {
    let mut listen = start(None, None).await;
    assert!(
        listen
            .first_line
            .ends_with("(NOT verifying: no --secret or --public-key)"),
        "{}",
        listen.first_line
    );

    let response = post(&listen.url, HeaderMap::new(), joined_body()).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let block = next(&mut listen.lines).await;
    assert!(
        block.starts_with("✓ participant-joined #- id=- meeting=mtg_1 session=ses_1\n"),
        "{block}"
    );

    let response = post(&listen.url, HeaderMap::new(), b"not json".to_vec()).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        next(&mut listen.lines).await,
        "✓ (not a meetinghooks event) #- id=-\n  not json"
    );
}

#[tokio::test]
async fn bad_secret_is_refused_before_listening() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (out, _lines) = mpsc::unbounded_channel();
    let args = ListenArgs {
        port: 0,
        host: [127, 0, 0, 1].into(),
        secret: Some("whsec_not base64!".into()),
        forward_to: None,
        public_key: None,
        fetch_public_key: false,
        client: crate::cli::client::ClientArgs {
            url: "http://127.0.0.1:1".into(),
            api_key: None,
        },
    };
    let err = serve(args, listener, out, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("invalid --secret: expected whsec_ followed by base64"),
        "{err:#}"
    );
}

#[tokio::test]
async fn a_repeated_id_is_marked_as_a_redelivery_with_its_attempt() {
    let mut listen = start(Some(SECRET), None).await;
    let body = joined_body();
    for attempt in ["1", "2"] {
        let mut headers = signed_headers(&body);
        headers.insert(HEADER_ATTEMPT, attempt.parse().unwrap());
        let response = post(&listen.url, headers, body.clone()).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let first = next(&mut listen.lines).await;
    assert!(
        first.starts_with(
            "✓ participant-joined #7 id=msg_1 meeting=mtg_1 session=ses_1 attempt 1\n  {\n"
        ),
        "{first}"
    );
    // The same bytes again: one line, no body.
    assert_eq!(
        next(&mut listen.lines).await,
        "↻ redelivery #2 of msg_1: participant-joined #7 meeting=mtg_1 session=ses_1 attempt 2"
    );
}

#[test]
fn only_the_latest_ids_are_remembered() {
    let mut seen = SeenIds::default();
    for i in 0..=REMEMBERED_IDS {
        assert!(matches!(
            seen.record(&format!("msg_{i}"), b"x"),
            Arrival::First
        ));
    }
    assert_eq!(seen.counts.len(), REMEMBERED_IDS);
    // msg_0 was forgotten to make room; the newest is still known.
    assert!(matches!(seen.record("msg_0", b"x"), Arrival::First));
    assert!(matches!(
        seen.record(&format!("msg_{REMEMBERED_IDS}"), b"y"),
        Arrival::Again {
            n: 2,
            same_body: false
        }
    ));
}
