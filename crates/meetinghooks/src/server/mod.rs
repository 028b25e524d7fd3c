//! The HTTP accept loop: a cap on open connections, and per-connection deadlines for reading a
//! request's head and for idling between requests, so slow or silent clients cannot hold the
//! server's sockets.

mod fd_limit;
mod memory;
mod watchdog;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

pub use fd_limit::{connection_cap, raise_nofile_limit};
use memory::OpenConnections;
use watchdog::{Activity, Tracked};

/// The deadlines every connection lives under.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// From the first byte of a request until its head (request line and headers) is complete.
    pub header_read_timeout: Duration,
    /// Without a request in flight and without a byte received, a connection is closed after
    /// this; a new connection that sends nothing counts as idle.
    pub idle_timeout: Duration,
    /// Open connections at most; the next waits in the kernel's backlog, using no descriptor.
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets each
/// connection finish its request in flight, and returns when all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let open = Arc::new(OpenConnections::default());
    tokio::pin!(shutdown);
    let mut accept_errors = AcceptErrors::default();
    loop {
        // A slot first: at the cap, connections stay in the backlog instead of taking an fd.
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_errors.note(e).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (router, stopping, open) = (router.clone(), stopping.clone(), open.clone());
        open.opened();
        tokio::spawn(async move {
            connection(stream, router, limits, stopping, slot).await;
            open.closed();
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it closes.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// One connection: hyper serves it while the watchdog enforces the head and idle deadlines.
async fn connection(
    stream: TcpStream,
    router: Router,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new(limits));
    let io = TokioIo::new(Tracked::new(stream, activity.clone()));
    let service = hyper::service::service_fn({
        let activity = activity.clone();
        move |request: Request<Incoming>| {
            let in_flight = activity.request_started();
            let answer = router.clone().oneshot(request.map(Body::new));
            async move {
                let response = answer.await;
                drop(in_flight);
                response
            }
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        // The watchdog keeps this deadline; hyper's own would also cut idle keep-alives.
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = *stopping.borrow();
    if draining {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let changed = activity.changed();
        let deadline = activity.deadline();
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = changed => {}
            () = watchdog::sleep_until(deadline) => {
                if activity.expired() {
                    tracing::debug!("closing a connection past its deadline");
                    return;
                }
            }
            _ = stopping.changed(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Accept errors (`EMFILE` when descriptors run out) are logged at most once a second, with a
/// short pause so a full table is not spun on.
#[derive(Default)]
struct AcceptErrors {
    last_logged: Option<tokio::time::Instant>,
    suppressed: u64,
}

impl AcceptErrors {
    async fn note(&mut self, error: std::io::Error) {
        let now = tokio::time::Instant::now();
        if self
            .last_logged
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
        {
            tracing::warn!(%error, suppressed = self.suppressed, "accept error");
            self.last_logged = Some(now);
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
