//! A real webhook receiver on port 0 that records every request and answers as told.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Clone, Debug)]
pub struct Received {
    /// The request's path, e.g. `/hooks`.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
    /// The status the receiver answered with; `None` while hanging.
    pub answered: Option<u16>,
    /// When the answer was handed back; `None` while hanging.
    pub answered_at: Option<Instant>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// How to answer a request.
pub enum Reply {
    Status(u16),
    WithHeaders(u16, Vec<(&'static str, String)>),
    /// Accept and never answer: a black hole.
    Hang,
    /// Answer with this status after a delay.
    After(std::time::Duration, u16),
    /// Answer with this status and body.
    Body(u16, Vec<u8>),
}

type Behavior = Arc<dyn Fn(usize, &Received) -> Reply + Send + Sync>;

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Answers `status` to everything.
    pub async fn answering(status: u16) -> Receiver {
        Self::start(move |_, _| Reply::Status(status)).await
    }

    /// `behavior(n, request)` decides the answer to the n-th request (from 0).
    pub async fn start(
        behavior: impl Fn(usize, &Received) -> Reply + Send + Sync + 'static,
    ) -> Receiver {
        let behavior: Behavior = Arc::new(behavior);
        let log: Arc<Mutex<Vec<Received>>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback({
            let log = log.clone();
            move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
                let (log, behavior) = (log.clone(), behavior.clone());
                answer(log, behavior, uri.path().to_owned(), headers, body)
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// Requests answered with a 2xx.
    pub fn delivered(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.answered.is_some_and(|s| (200..300).contains(&s)))
            .collect()
    }

    pub async fn wait_for(&self, what: &str, check: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        crate::helpers::eventually(what, || {
            let ok = check(&self.received());
            async move { ok }
        })
        .await;
        self.received()
    }
}

fn answer(
    log: Arc<Mutex<Vec<Received>>>,
    behavior: Behavior,
    path: String,
    headers: HeaderMap,
    body: Bytes,
) -> Pin<Box<dyn Future<Output = Response> + Send>> {
    Box::pin(async move {
        let request = Received {
            path,
            headers,
            body,
            at: Instant::now(),
            answered: None,
            answered_at: None,
        };
        let (index, reply) = {
            let mut log = log.lock().unwrap();
            let reply = behavior(log.len(), &request);
            log.push(request);
            (log.len() - 1, reply)
        };
        let mut body = axum::body::Body::from("ok");
        let (status, headers) = match reply {
            Reply::Status(s) => (s, vec![]),
            Reply::WithHeaders(s, h) => (s, h),
            Reply::Body(s, bytes) => {
                body = axum::body::Body::from(bytes);
                (s, vec![])
            }
            Reply::Hang => std::future::pending().await,
            Reply::After(delay, s) => {
                tokio::time::sleep(delay).await;
                (s, vec![])
            }
        };
        {
            let mut log = log.lock().unwrap();
            log[index].answered = Some(status);
            log[index].answered_at = Some(Instant::now());
        }
        let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
        for (name, value) in headers {
            response.headers_mut().insert(name, value.parse().unwrap());
        }
        response
    })
}
