//! The fault scenario's receiver: answers 500 sometimes and stalls past the request timeout
//! sometimes, and records every attempt with when it started and ended, so attempts of one
//! message that overlap in time can be found.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

use super::nodes::REQUEST_TIMEOUT;

/// One attempt as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub webhook_id: String,
    pub meeting_id: String,
    pub sequence: u64,
    pub started: Instant,
    /// When the answer went out, or the sender hung up.
    pub ended: Instant,
    /// `None` when the sender hung up first (a stall).
    pub status: Option<u16>,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// What the receiver does with one request.
#[derive(Clone, Copy)]
enum Answer {
    Ok,
    Fail,
    /// Past the sender's timeout, then 200 (which the sender no longer reads).
    Stall,
}

#[derive(Default)]
struct Log {
    attempts: Mutex<Vec<Attempt>>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    log: Arc<Log>,
    tasks: JoinSet<()>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    data: Data,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    meeting_id: String,
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let log: Arc<Log> = Arc::default();
        let mut tasks = JoinSet::new();
        let addr = listener.local_addr()?;
        let shared = log.clone();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let log = shared.clone();
                connections.spawn(async move {
                    let service = service_fn(move |request| handle(request, log.clone()));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Receiver { addr, log, tasks })
    }

    pub fn attempts(&self) -> Vec<Attempt> {
        self.log.attempts.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

/// Records the attempt when dropped: when the answer is sent, or when hyper drops the
/// request because the sender hung up during a stall.
struct Recording {
    log: Arc<Log>,
    attempt: Option<Attempt>,
}

impl Drop for Recording {
    fn drop(&mut self) {
        if let Some(mut attempt) = self.attempt.take() {
            attempt.ended = Instant::now();
            self.log.attempts.lock().unwrap().push(attempt);
        }
    }
}

async fn handle(
    request: Request<Incoming>,
    log: Arc<Log>,
) -> Result<Response<Empty<Bytes>>, Infallible> {
    let started = Instant::now();
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let webhook_id = header("webhook-id");
    let sequence = header("webhook-sequence").parse().unwrap_or(0);
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let Ok(body) = serde_json::from_slice::<Body>(&body) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let answer = match fastrand::u32(0..100) {
        0..10 => Answer::Fail,
        10..12 => Answer::Stall,
        _ => Answer::Ok,
    };
    let mut recording = Recording {
        log,
        attempt: Some(Attempt {
            webhook_id,
            meeting_id: body.data.meeting_id,
            sequence,
            started,
            ended: started,
            status: None,
        }),
    };
    let code = match answer {
        Answer::Ok => StatusCode::OK,
        Answer::Fail => StatusCode::INTERNAL_SERVER_ERROR,
        Answer::Stall => {
            tokio::time::sleep(REQUEST_TIMEOUT + Duration::from_millis(500)).await;
            // Reached only if hyper kept the request after the sender hung up: the sender
            // gave up at its timeout, so the attempt ended then.
            if let Some(a) = recording.attempt.as_mut() {
                a.status = None;
            }
            let attempt = recording.attempt.take();
            if let Some(mut a) = attempt {
                a.ended = started + REQUEST_TIMEOUT;
                recording.log.attempts.lock().unwrap().push(a);
            }
            return Ok(status(StatusCode::OK));
        }
    };
    if let Some(a) = recording.attempt.as_mut() {
        a.status = Some(code.as_u16());
    }
    drop(recording);
    Ok(status(code))
}

fn status(code: StatusCode) -> Response<Empty<Bytes>> {
    let mut response = Response::new(Empty::new());
    *response.status_mut() = code;
    response
}
