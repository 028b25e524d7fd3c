//! `meetinghooks listen`: a local development receiver that verifies, prints and optionally forwards webhooks.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use meetinghooks_webhooks::{
    Event, HeaderLookup, Webhook, HEADER_ATTEMPT, HEADER_ID, HEADER_SEQUENCE,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedSender;

/// Largest request body accepted.
const BODY_LIMIT: usize = 1 << 20;

/// How many webhook-ids are remembered to recognise a redelivery.
const REMEMBERED_IDS: usize = 10_000;

/// The server's 1-based attempt number of a delivery.

#[derive(clap::Args)]
pub struct ListenArgs {
    /// Port to listen on.
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Endpoint secret (`whsec_…`). Without it, signatures are not checked.
    // Hidden so `--help` does not print the secret taken from the environment.
    #[arg(long, env = "MEETINGHOOKS_LISTEN_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Also POST each accepted webhook, unchanged, to this URL and answer with its status.
    #[arg(long)]
    pub forward_to: Option<String>,
}

/// Listens on `--host`/`--port` and prints to stdout until Ctrl-C.
pub async fn run(args: ListenArgs) -> anyhow::Result<()> {
    let addr = SocketAddr::new(args.host, args.port);
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let (out, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let printer = tokio::spawn(async move {
        while let Some(line) = lines.recv().await {
            println!("{line}");
        }
    });
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let result = serve(args, listener, out, shutdown).await;
    // `serve` has dropped the sender, so the printer ends once it has printed everything.
    let _ = printer.await;
    result
}

/// Serves on `listener` until `shutdown` completes, sending everything it has to say to `out`.
pub async fn serve(
    args: ListenArgs,
    listener: TcpListener,
    out: UnboundedSender<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let webhook = args
        .secret
        .as_deref()
        .map(Webhook::new)
        .transpose()
        .map_err(|err| {
            anyhow::anyhow!("invalid --secret: expected whsec_ followed by base64 ({err})")
        })?;
    let forward = args.forward_to.as_deref().map(Forward::new).transpose()?;

    let addr = listener.local_addr().context("reading the bound address")?;
    let mode = if webhook.is_some() {
        "verifying signatures"
    } else {
        "NOT verifying: no --secret"
    };
    let _ = out.send(format!("listening on http://{addr} ({mode})"));

    let receiver = Arc::new(Receiver {
        webhook,
        forward,
        out,
        seen: Mutex::new(SeenIds::default()),
    });
    let app = Router::new()
        .fallback(receive)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(receiver);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving")
}

struct Receiver {
    webhook: Option<Webhook>,
    forward: Option<Forward>,
    out: UnboundedSender<String>,
    seen: Mutex<SeenIds>,
}

/// The last `REMEMBERED_IDS` webhook-ids accepted, with how often each arrived and a hash of
/// its first body.
#[derive(Default)]
struct SeenIds {
    counts: HashMap<String, (u32, u64)>,
    order: VecDeque<String>,
}

/// How a delivery relates to the ones before it.
enum Arrival {
    First,
    /// The `n`th delivery of this id; `same_body` unless the bytes differ from the first's.
    Again {
        n: u32,
        same_body: bool,
    },
}

impl SeenIds {
    fn record(&mut self, id: &str, body: &[u8]) -> Arrival {
        let mut hasher = DefaultHasher::new();
        body.hash(&mut hasher);
        let hash = hasher.finish();
        if let Some((count, first_hash)) = self.counts.get_mut(id) {
            *count += 1;
            return Arrival::Again {
                n: *count,
                same_body: *first_hash == hash,
            };
        }
        if self.order.len() == REMEMBERED_IDS {
            if let Some(oldest) = self.order.pop_front() {
                self.counts.remove(&oldest);
            }
        }
        self.counts.insert(id.to_owned(), (1, hash));
        self.order.push_back(id.to_owned());
        Arrival::First
    }
}

impl Receiver {
    fn emit(&self, text: String) {
        // Fails only when the printer has gone, i.e. while shutting down.
        let _ = self.out.send(text);
    }
}

/// Every path is a webhook endpoint, so the same handler serves them all.
async fn receive(
    State(rx): State<Arc<Receiver>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "webhooks are POSTed\n",
        )
            .into_response();
    }
    let id = headers.header(HEADER_ID).unwrap_or("-");
    let event = match &rx.webhook {
        Some(webhook) => match webhook.verify(&headers, &body) {
            Ok(event) => Some(event),
            Err(err) => {
                rx.emit(format!("✗ rejected {id}: {err}"));
                return (
                    StatusCode::UNAUTHORIZED,
                    format!("webhook rejected: {err}\n"),
                )
                    .into_response();
            }
        },
        // Unverified, anything is accepted, so the body may not be an event at all.
        None => serde_json::from_slice(&body).ok(),
    };
    let arrival = match id {
        "-" => Arrival::First,
        id => rx.seen.lock().expect("seen ids").record(id, &body),
    };
    rx.emit(describe(&headers, id, event.as_ref(), &body, arrival));
    match &rx.forward {
        Some(forward) => forward.send(&rx, &headers, body).await,
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// A title line, then the body indented below it; a redelivery of the same bytes is one line.
fn describe(
    headers: &HeaderMap,
    id: &str,
    event: Option<&Event>,
    body: &[u8],
    arrival: Arrival,
) -> String {
    let sequence = headers.header(HEADER_SEQUENCE).unwrap_or("-");
    let (kind, rest) = match event {
        Some(event) => (
            format!("{} #{sequence}", event.webhook_type()),
            format!(
                " meeting={} session={}",
                event.meeting_id(),
                event.session_id()
            ),
        ),
        None => (
            format!("(not a meetinghooks event) #{sequence}"),
            String::new(),
        ),
    };
    let mut block = match arrival {
        Arrival::First => format!("✓ {kind} id={id}{rest}"),
        Arrival::Again { n, .. } => format!("↻ redelivery #{n} of {id}: {kind}{rest}"),
    };
    if let Some(attempt) = headers
        .header(HEADER_ATTEMPT)
        .and_then(|a| a.parse::<u32>().ok())
    {
        block.push_str(&format!(" attempt {attempt}"));
    }
    if let Arrival::Again {
        same_body: true, ..
    } = arrival
    {
        return block;
    }
    let text = match event {
        Some(event) => pretty(event, body),
        None => String::from_utf8_lossy(body).into_owned(),
    };
    for line in text.lines() {
        block.push_str("\n  ");
        block.push_str(line);
    }
    block
}

/// The event pretty-printed, but only if that shows exactly what arrived:
/// `Event` drops unknown fields and imposes its own layout, so any other body is shown as sent.
fn pretty(event: &Event, body: &[u8]) -> String {
    if event.to_json_bytes() == body {
        serde_json::to_string_pretty(event).expect("Event always serializes")
    } else {
        String::from_utf8_lossy(body).into_owned()
    }
}

struct Forward {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl Forward {
    fn new(text: &str) -> anyhow::Result<Forward> {
        let url = reqwest::Url::parse(text)
            .with_context(|| format!("invalid --forward-to URL {text:?}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("--forward-to must be an http or https URL, not {text:?}");
        }
        let client = reqwest::Client::builder()
            // Hand redirects back to the sender: following one would turn the POST into a GET.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the HTTP client")?;
        Ok(Forward { client, url })
    }

    /// POSTs the body bytes untouched, with the headers its signature check needs,
    /// and answers with the target's status.
    async fn send(&self, rx: &Receiver, headers: &HeaderMap, body: Bytes) -> Response {
        let mut passed = HeaderMap::new();
        for (name, value) in headers {
            if name.as_str().starts_with("webhook-") || name == header::CONTENT_TYPE {
                passed.append(name, value.clone());
            }
        }
        let sent = self
            .client
            .post(self.url.clone())
            .headers(passed)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => {
                rx.emit(format!(
                    "→ forwarded to {}: {}",
                    self.url,
                    response.status()
                ));
                response.status().into_response()
            }
            Err(err) => {
                // reqwest's own message omits the cause (refused, timed out, …); the chain has it.
                let err = anyhow::Error::new(err);
                rx.emit(format!("→ forwarding to {} failed: {err:#}", self.url));
                (
                    StatusCode::BAD_GATEWAY,
                    format!("forwarding to {} failed\n", self.url),
                )
                    .into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use meetinghooks_webhooks::{ParticipantData, VerifyError, HEADER_SIGNATURE, HEADER_TIMESTAMP};
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
            block
                .starts_with("✓ participant-joined #7 id=msg_1 meeting=mtg_1 session=ses_1\n  {\n"),
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
            listen.first_line.ends_with("(NOT verifying: no --secret)"),
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
}
