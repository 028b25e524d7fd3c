//! `videosdk-signature`: the project's RSA key signs room webhooks and endpoints that ask for
//! it, over exactly the bytes sent; the public key route, the `signatures` option, rotation,
//! and the bodies being fixed points of Node's `JSON.stringify(JSON.parse(body))`.

use std::time::Duration;

use meetinghooks_webhooks::{VideosdkVerifier, Webhook, WebhookType, HEADER_VIDEOSDK_SIGNATURE};
use serde_json::{json, Value};

use crate::helpers::{assert_error, eventually, join, leave, TestApp, KEY};
use crate::receiver::{Received, Receiver};

/// The public key as a VideoSDK client asks for it: `Authorization` without `Bearer`.
async fn public_key(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/v2/public/rsa-public-key"))
        .header("authorization", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn verifier(key: &Value) -> VideosdkVerifier {
    VideosdkVerifier::from_public_pem(key["publicKey"].as_str().unwrap()).unwrap()
}

/// A name with what JSON encoders disagree on: non-ASCII, astral, `/`, quotes, U+2028.
const NAME: &str = "Zoë 李雷 😀 \"Q\" a/b \\ \u{2028}";

fn meeting(id: &str) -> Value {
    json!([
        {"id": format!("{id}-1"), "type": "participant.joined", "meetingId": id,
         "participantId": "p-1", "participantName": NAME, "at": "2026-01-01T10:00:00Z"},
        {"id": format!("{id}-2"), "type": "recording.started", "meetingId": id, "at": "2026-01-01T10:00:01Z"},
        leave(&format!("{id}-3"), id, "p-1", "left", "2026-01-01T10:00:02Z"),
    ])
}

#[tokio::test]
async fn room_webhooks_and_videosdk_endpoints_are_signed_with_the_projects_rsa_key() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(200).await;
    let room = app
        .post("/v2/rooms", json!({"customRoomId": "jvsg-8rjn-j304", "webhook": {"endPoint": receiver.url("/room"), "events": ["*"]}}))
        .await;
    assert_eq!(room.status(), 201);
    let videosdk = app
        .endpoint(json!({"url": receiver.url("/videosdk"), "signatures": ["videosdk"]}))
        .await;
    let standard = app
        .endpoint(json!({"url": receiver.url("/standard")}))
        .await;
    assert_eq!(app.signals(meeting("jvsg-8rjn-j304")).await.status(), 202);
    // 6 events (session-started, participant-joined, recording-started, participant-left,
    // recording-stopped, session-ended) to each of the three.
    let got = receiver.wait_for("18 deliveries", |r| r.len() == 18).await;
    let key = public_key(&app).await;
    let pem = key["publicKey"].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN RSA PUBLIC KEY-----\n"), "{pem}");
    assert_eq!(key["nextPublicKey"], Value::Null);
    let rsa = verifier(&key);
    let room_secret: Value = app
        .get("/v1/room-webhooks/secret")
        .await
        .json()
        .await
        .unwrap();
    let room_hmac = Webhook::new(room_secret["secret"].as_str().unwrap()).unwrap();
    let videosdk_hmac = Webhook::new(videosdk["secret"].as_str().unwrap()).unwrap();
    let standard_hmac = Webhook::new(standard["secret"].as_str().unwrap()).unwrap();
    let by_path =
        |p: &str| -> Vec<Received> { got.iter().filter(|r| r.path == p).cloned().collect() };
    for (p, hmac) in [("/room", &room_hmac), ("/videosdk", &videosdk_hmac)] {
        let deliveries = by_path(p);
        assert_eq!(deliveries.len(), 6, "{p}");
        for r in &deliveries {
            // VideoSDK's signature over the exact bytes, and Standard Webhooks beside it.
            let event = rsa.verify(&r.headers, &r.body).unwrap();
            hmac.verify(&r.headers, &r.body).unwrap();
            let mut tampered = r.body.to_vec();
            tampered[2] ^= 1;
            assert!(rsa.verify_raw(&r.headers, &tampered).is_err());
            if event.webhook_type() == WebhookType::ParticipantJoined {
                assert_eq!(r.json()["data"]["participantName"], NAME);
            }
        }
    }
    for r in by_path("/standard") {
        standard_hmac.verify(&r.headers, &r.body).unwrap();
        assert!(r.headers.get(HEADER_VIDEOSDK_SIGNATURE).is_none());
    }
    app.shutdown().await;
}

#[tokio::test]
async fn the_signatures_option_is_validated_stored_and_changed() {
    let app = TestApp::spawn().await;
    let created = app
        .endpoint(
            json!({"url": "https://hooks.example.com/a", "signatures": ["videosdk", "standard"]}),
        )
        .await;
    assert_eq!(created["signatures"], json!(["standard", "videosdk"]));
    let id = created["id"].as_str().unwrap();
    let plain = app
        .endpoint(json!({"url": "https://hooks.example.com/b"}))
        .await;
    assert_eq!(plain["signatures"], json!(["standard"]));
    let patched = app
        .patch(
            &format!("/v1/endpoints/{id}"),
            json!({"signatures": ["videosdk"]}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let read: Value = app
        .get(&format!("/v1/endpoints/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["signatures"], json!(["videosdk"]));
    for bad in [json!([]), json!(["hmac"]), json!("videosdk"), Value::Null] {
        let response = app
            .post(
                "/v1/endpoints",
                json!({"url": "https://hooks.example.com/c", "signatures": bad}),
            )
            .await;
        assert_eq!(response.status(), 400, "{bad}");
        let error: Value = response.json().await.unwrap();
        assert!(error["error"]["message"].is_string(), "{error}");
    }
    let room = app
        .post("/v2/rooms", json!({"customRoomId": "r-1", "webhook": {"endPoint": "https://hooks.example.com/r", "events": ["*"]}}))
        .await;
    assert_eq!(room.status(), 201);
    let rooms: Value = app
        .get("/v1/endpoints?kind=room")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        rooms["data"][0]["signatures"],
        json!(["standard", "videosdk"])
    );
    // A room's webhook keeps both: VideoSDK receivers verify one, Standard Webhooks the other.
    let room_endpoint = rooms["data"][0]["id"].as_str().unwrap();
    let patch = json!({"signatures": ["standard"]});
    let refused = app
        .patch(&format!("/v1/endpoints/{room_endpoint}"), patch)
        .await;
    assert_eq!(refused.status(), 409);
    app.shutdown().await;
}

#[tokio::test]
async fn a_rotated_key_is_published_beside_the_current_one_and_signs_after_the_overlap() {
    let app =
        TestApp::delivering_with(|c| c.secret_rotation_overlap = Duration::from_secs(2)).await;
    let receiver = Receiver::answering(200).await;
    app.endpoint(json!({"url": receiver.url("/v"), "signatures": ["videosdk"]}))
        .await;
    let before = public_key(&app).await;
    let rotated: Value = app
        .post("/v1/room-webhooks/rsa-key/rotate", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rotated["publicKey"], before["publicKey"]);
    let next = rotated["nextPublicKey"].as_str().unwrap().to_owned();
    assert_ne!(next, before["publicKey"].as_str().unwrap());
    assert!(rotated["nextPublicKeyFrom"].is_string());
    assert_eq!(public_key(&app).await, rotated);
    // During the overlap the current key still signs.
    app.signals(json!([join("r-1", "rot-1", "p", "2026-01-01T10:00:00Z")]))
        .await;
    let got = receiver.wait_for("2 deliveries", |r| r.len() == 2).await;
    for r in &got {
        verifier(&before).verify_raw(&r.headers, &r.body).unwrap();
    }
    // Past it, the route serves the new key alone, and the new key signs.
    eventually("the next key takes over", || async {
        public_key(&app).await["publicKey"] == next.as_str()
    })
    .await;
    assert_eq!(public_key(&app).await["nextPublicKey"], Value::Null);
    app.signals(json!([join("r-2", "rot-2", "p", "2026-01-01T10:00:00Z")]))
        .await;
    let got = receiver.wait_for("4 deliveries", |r| r.len() == 4).await;
    let new = VideosdkVerifier::from_public_pem(&next).unwrap();
    for r in &got[2..] {
        new.verify_raw(&r.headers, &r.body).unwrap();
        assert!(verifier(&before).verify_raw(&r.headers, &r.body).is_err());
    }
    app.shutdown().await;
}

/// Every catalog type (the receiver crate's list, through test sends) and a real meeting
/// with an awkward name: each body Node re-serialises to the same bytes, and Node's
/// `crypto.verify('RSA-SHA256', …)` accepts the signature over the raw body and over that.
#[tokio::test]
async fn every_event_type_is_a_fixed_point_of_json_stringify_and_verifies_in_node() {
    let app = TestApp::delivering().await;
    let receiver = Receiver::answering(200).await;
    let endpoint = app
        .endpoint(json!({"url": receiver.url("/v"), "signatures": ["videosdk"]}))
        .await;
    let id = endpoint["id"].as_str().unwrap();
    for webhook_type in WebhookType::ALL {
        let response = app
            .post(
                &format!("/v1/endpoints/{id}/test"),
                json!({"webhookType": webhook_type.as_str()}),
            )
            .await;
        assert_eq!(response.status(), 202, "{}", webhook_type.as_str());
    }
    app.signals(meeting("fixed-point")).await;
    let expected = WebhookType::ALL.len() + 6;
    let got = receiver
        .wait_for("every delivery", |r| r.len() == expected)
        .await;
    let types: std::collections::BTreeSet<String> = got
        .iter()
        .map(|r| r.json()["webhookType"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types.len(), WebhookType::ALL.len());
    let items: Vec<Value> = got
        .iter()
        .map(|r| {
            json!({
                "body": std::str::from_utf8(&r.body).unwrap(),
                "signature": r.header(HEADER_VIDEOSDK_SIGNATURE),
            })
        })
        .collect();
    assert!(items
        .iter()
        .any(|i| i["body"].as_str().unwrap().contains("Zoë 李雷 😀")));
    let failures = node_check(
        public_key(&app).await["publicKey"].as_str().unwrap(),
        &items,
    )
    .await;
    assert_eq!(failures, Vec::<String>::new());
    app.shutdown().await;
}

/// Runs Node on the bodies; returns what failed, one line each.
async fn node_check(public_key: &str, items: &[Value]) -> Vec<String> {
    const SCRIPT: &str = r#"
const crypto = require('crypto');
const { publicKey, items } = JSON.parse(require('fs').readFileSync(0, 'utf8'));
for (const { body, signature } of items) {
  const sig = Buffer.from(signature, 'base64');
  const again = JSON.stringify(JSON.parse(body));
  if (again !== body) console.log('not a fixed point: ' + body);
  if (!crypto.verify('RSA-SHA256', Buffer.from(body), publicKey, sig)) console.log('raw body: ' + body);
  if (!crypto.verify('RSA-SHA256', Buffer.from(again), publicKey, sig)) console.log('re-serialised: ' + body);
}
"#;
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("node")
        .args(["-e", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("this test needs `node` on PATH (CI installs it for receivers/node)");
    let input = json!({"publicKey": public_key, "items": items}).to_string();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    assert!(output.status.success(), "node failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_public_key_needs_the_projects_api_key() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/v2/public/rsa-public-key"))
        .send()
        .await
        .unwrap();
    assert_error(response, reqwest::StatusCode::UNAUTHORIZED, "unauthorized").await;
    let response = app
        .client
        .get(app.url("/v2/public/rsa-public-key"))
        .header("authorization", "not-a-key")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // Only `/v2` takes a bare key; `/v1` keeps `Bearer`.
    let response = app
        .client
        .get(app.url("/v1/endpoints"))
        .header("authorization", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    app.shutdown().await;
}

/// The real binaries: `listen` fetches the project's public key and verifies
/// `videosdk-signature` on a room's webhook, and refuses a forged one.
#[tokio::test]
async fn listen_verifies_videosdk_signatures_with_the_fetched_public_key() {
    use crate::helpers::{free_port, post_json, Binary, Listen};
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let server = Binary::serve(
        dir.path(),
        &[("MEETINGHOOKS_ALLOWED_PRIVATE_TARGETS", "[\"127.0.0.0/8\"]")],
    );
    server.wait_ready(&client).await;
    let port = free_port();
    let hook = format!("http://127.0.0.1:{port}/room");
    let room =
        json!({"customRoomId": "listen-rsa", "webhook": {"endPoint": hook, "events": ["*"]}});
    post_json(&client, &server.url("/v2/rooms"), room).await;
    let base = server.url("");
    let mut listen = Listen::start_with(
        port,
        &["--fetch-public-key", "--url", &base, "--api-key", KEY],
    )
    .await;
    assert!(
        listen.first_line.contains("verifying videosdk-signature"),
        "{}",
        listen.first_line
    );
    let signals = json!({"signals": [
        join("l-1", "listen-rsa", "p", "2026-01-01T10:00:00Z"),
        leave("l-2", "listen-rsa", "p", "left", "2026-01-01T10:00:01Z"),
    ]});
    post_json(&client, &server.url("/v1/signals"), signals).await;
    let seen = listen
        .verified_until_session_ended("listen printed the meeting")
        .await;
    assert_eq!(
        seen,
        [
            "session-started",
            "participant-joined",
            "participant-left",
            "session-ended"
        ]
    );
    let forged = client
        .post(&hook)
        .header(HEADER_VIDEOSDK_SIGNATURE, "AAAA")
        .body(r#"{"webhookType":"session-started","data":{"meetingId":"m","sessionId":"s","start":"2026-01-01T10:00:00.000Z"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    // The lines left of the last block are the body it printed; then the rejection.
    let rejected = async {
        loop {
            let line = listen.lines.next_line().await.unwrap().unwrap();
            assert!(
                !line.starts_with('✓'),
                "a forged delivery was accepted: {line}"
            );
            if line.starts_with('✗') {
                return line;
            }
        }
    };
    let rejected = tokio::time::timeout(Duration::from_secs(20), rejected)
        .await
        .unwrap();
    assert!(rejected.contains("videosdk-signature"), "{rejected}");
    let mut child = listen.child;
    child.kill().await.unwrap();
}

/// The private keys are sealed in the row like every secret, and a new `secret_key` reseals
/// them: the same key pair is served after each restart.
#[tokio::test]
async fn rsa_private_keys_are_sealed_at_rest_and_resealed_with_a_new_secret_key() {
    use crate::raw_db::RawDb;
    use meetinghooks::config::Secret;
    let app = TestApp::spawn().await;
    let first = public_key(&app).await;
    app.post("/v1/room-webhooks/rsa-key/rotate", json!({}))
        .await;
    let rotated = public_key(&app).await;
    let stored = |db: RawDb| async move {
        db.strings("SELECT rsa_key || ' ' || rsa_key_next FROM projects WHERE rsa_key IS NOT NULL")
            .await
    };
    let before = stored(RawDb::of(&app).await).await;
    assert_eq!(before.len(), 1);
    for sealed in before[0].split(' ') {
        assert!(sealed.starts_with("sealed:v1:"), "{sealed}");
    }
    assert!(!before[0].contains("PRIVATE"));
    let mut config = app.config.clone();
    let dir = app.shutdown().await;
    config.previous_secret_keys = vec![config.secret_key.clone().unwrap()];
    config.secret_key = Some(Secret(meetinghooks::sealing::generate_key()));
    let app = TestApp::spawn_with(dir, config.clone()).await;
    assert_ne!(
        stored(RawDb::of(&app).await).await,
        before,
        "not sealed again"
    );
    let dir = app.shutdown().await;
    // Without the old sealing key the keys still open: nothing is left sealed with it.
    config.previous_secret_keys = Vec::new();
    let app = TestApp::spawn_with(dir, config).await;
    assert_eq!(public_key(&app).await, rotated);
    assert_eq!(rotated["publicKey"], first["publicKey"]);
    app.shutdown().await;
}
