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
    Event, HeaderLookup, HEADER_ATTEMPT, HEADER_ID, HEADER_SEQUENCE, HEADER_VIDEOSDK_SIGNATURE,
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
    /// The project's RSA public key (PEM, the `publicKey` of `GET /v2/public/rsa-public-key`):
    /// check `videosdk-signature`.
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<std::path::PathBuf>,
    /// Fetch that public key from the server (`--url`, `--api-key`) at start.
    #[arg(long, conflicts_with = "public_key")]
    pub fetch_public_key: bool,
    #[command(flatten)]
    pub client: crate::cli::client::ClientArgs,
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
    let verifiers = verify::Verifiers::from_args(&args).await?;
    let forward = args.forward_to.as_deref().map(Forward::new).transpose()?;

    let addr = listener.local_addr().context("reading the bound address")?;
    let mode = verifiers.mode();
    let _ = out.send(format!("listening on http://{addr} ({mode})"));

    let receiver = Arc::new(Receiver {
        verifiers,
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
    verifiers: verify::Verifiers,
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
    let event = match rx.verifiers.checks() {
        true => match rx.verifiers.verify(&headers, &body) {
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
        false => serde_json::from_slice(&body).ok(),
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
            if name.as_str().starts_with("webhook-")
                || name == HEADER_VIDEOSDK_SIGNATURE
                || name == header::CONTENT_TYPE
            {
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

mod verify;

#[cfg(test)]
mod tests;
