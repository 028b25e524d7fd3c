//! The no-durability ceiling: answers 202 and forwards each signal's webhook body to its
//! targets with a pooled client. No storage, no signing, no retries.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub struct Forwarder {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

#[derive(Deserialize)]
struct Batch {
    signals: Vec<Signal>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Signal {
    meeting_id: String,
    participant_id: String,
    participant_name: String,
}

impl Forwarder {
    pub async fn start(targets: Vec<String>) -> anyhow::Result<Forwarder> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .build()?;
        let targets: Arc<[String]> = targets.into();
        // As many requests in flight as meetinghooks allows itself by default.
        let gate = Arc::new(tokio::sync::Semaphore::new(1024));
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let (client, targets, gate) = (client.clone(), targets.clone(), gate.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        forward(request, client.clone(), targets.clone(), gate.clone())
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Forwarder { addr, task })
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    request: Request<Incoming>,
    client: reqwest::Client,
    targets: Arc<[String]>,
    gate: Arc<tokio::sync::Semaphore>,
) -> Result<Response<Empty<Bytes>>, Infallible> {
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if let Ok(batch) = serde_json::from_slice::<Batch>(&body) {
        for signal in batch.signals {
            let payload = Bytes::from(format!(
                r#"{{"webhookType":"participant-joined","data":{{"meetingId":"{}","sessionId":"000000000000000000000000","participantId":"{}","participantName":"{}"}}}}"#,
                signal.meeting_id, signal.participant_id, signal.participant_name
            ));
            for target in targets.iter() {
                let request = client
                    .post(target)
                    .header("content-type", "application/json")
                    .body(payload.clone());
                let gate = gate.clone();
                tokio::spawn(async move {
                    let _permit = gate.acquire().await;
                    let _ = request.send().await;
                });
            }
        }
    }
    let mut response = Response::new(Empty::new());
    *response.status_mut() = StatusCode::ACCEPTED;
    Ok(response)
}
