//! Webhook receivers for a run: hyper servers that answer 204 and record each arrival.
//! Paths under `/hole` accept the request and never answer (black-holed endpoints).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// One webhook as it arrived: the endpoint path, the participant (or webhook id), when.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub path: Arc<str>,
    pub key: Box<str>,
    pub at: Instant,
}

#[derive(Default)]
struct Log {
    arrivals: Mutex<Vec<Arrival>>,
}

/// Capped by `net.core.somaxconn` (4,096 by default).
const LISTEN_BACKLOG: u32 = 4096;

pub struct Receiver {
    pub addr: SocketAddr,
    log: Arc<Log>,
    tasks: Mutex<JoinSet<()>>,
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow)]
    data: Data<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data<'a> {
    #[serde(borrow)]
    participant_id: Option<&'a str>,
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Receiver> {
        Self::start_on("127.0.0.1:0".parse()?).await
    }

    pub async fn start_on(addr: SocketAddr) -> anyhow::Result<Receiver> {
        // A sender may open a thousand connections at once (one per endpoint in flight);
        // with tokio's default backlog of 1,024 the kernel drops SYNs beyond it, and each
        // dropped one costs a 1 s retransmit: a pause that measures the receiver, not the
        // sender (`nstat` showed ~10,000 listen overflows per fan-out run).
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener: TcpListener = socket.listen(LISTEN_BACKLOG)?;
        let receiver = Receiver {
            addr: listener.local_addr()?,
            log: Arc::default(),
            tasks: Mutex::new(JoinSet::new()),
        };
        let log = receiver.log.clone();
        receiver.tasks.lock().unwrap().spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let log = log.clone();
                connections.spawn(async move {
                    let service = service_fn(move |request| handle(request, log.clone()));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(receiver)
    }

    pub fn count(&self) -> usize {
        self.log.arrivals.lock().unwrap().len()
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.log.arrivals.lock().unwrap().clone()
    }

    /// Stops accepting; open connections end with the accept task.
    pub fn stop(&self) {
        self.tasks.lock().unwrap().abort_all();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn handle(
    request: Request<Incoming>,
    log: Arc<Log>,
) -> Result<Response<Empty<Bytes>>, Infallible> {
    let path: Arc<str> = request.uri().path().into();
    let webhook_id = request
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let at = Instant::now();
    let key: Box<str> = match serde_json::from_slice::<Body<'_>>(&body) {
        Ok(Body {
            data: Data {
                participant_id: Some(p),
            },
        }) => p.into(),
        _ => webhook_id.into(),
    };
    if path.starts_with("/hole") {
        std::future::pending::<()>().await;
    }
    log.arrivals.lock().unwrap().push(Arrival { path, key, at });
    let mut response = Response::new(Empty::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}
