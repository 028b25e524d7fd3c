//! The HTTP accept loop: a cap on open connections, kept when new ones arrive by shedding
//! those without a complete request head (`server::shedding`), and per-connection deadlines
//! for reading a head, idling between requests and writing to a peer that does not read, so
//! slow or silent clients cannot hold the server's sockets or keep new clients waiting.

mod fd_limit;
mod memory;
mod response_body;
mod shedding;
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

pub use fd_limit::{
    fd_budget, raise_nofile_limit, shedding_headroom, FdBudget, FdDemand, FdLimitTooLow,
};
use memory::OpenConnections;
use response_body::UntilEnd;
use shedding::{Load, Registry};
use watchdog::{Activity, Next, Tracked};

/// A request head's deadline while more than half the cap is reading heads (never longer
/// than `header_read_timeout`).
pub const PRESSED_HEAD_TIMEOUT: Duration = Duration::from_secs(1);

/// At the descriptor ceiling, how often the accept loop tries again to shed.
const AT_CEILING_RECHECK: Duration = Duration::from_millis(10);
/// The accept queue asked of the kernel (which caps it at `net.core.somaxconn`).
const BACKLOG: libc::c_int = 65_535;

/// Deepens the listener's accept queue: a flood of reconnecting clients then waits in it
/// to be accepted (and shed) rather than overflowing it, which drops a new client's SYN and
/// costs it a 1 s retransmission.
fn deepen_backlog(listener: &TcpListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: listen on a socket already listening only changes its backlog (Linux, BSDs).
    if unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) } != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "keeping the listener's backlog");
    }
}

/// The limits every connection lives under.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// From the first byte of a request until its head (request line and headers) is complete.
    pub header_read_timeout: Duration,
    /// Without a request in flight and without a byte received, a connection is closed after
    /// this; a new connection that sends nothing counts as idle. Also how long a response may
    /// wait on a peer that does not read.
    pub idle_timeout: Duration,
    /// Open connections at most; a new one past it takes the place of one without a complete
    /// request head. Shed connections are closing past it, up to `shedding_headroom`.
    pub max_connections: usize,
    /// After shutdown begins, how long responses still being written may take.
    pub drain_grace: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets each
/// connection finish its request in flight (within `drain_grace`), and returns when all are
/// closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    deepen_backlog(&listener);
    // Shed connections still hold their descriptor until their task ends: the hard bound.
    let ceiling = limits.max_connections + shedding_headroom(limits.max_connections);
    let slots = Arc::new(Semaphore::new(ceiling));
    let load = Arc::new(Load::new(limits.max_connections));
    let registry = Arc::new(Registry::new(limits.max_connections, load.clone()));
    let (stop, stopping) = watch::channel(false);
    let open = Arc::new(OpenConnections::default());
    tokio::pin!(shutdown);
    let mut accept_errors = AcceptErrors::default();
    loop {
        // A slot first: only past the headroom do connections wait in the backlog, and then
        // the accept loop sheds what it can and looks again shortly.
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                registry.make_room();
                tokio::select! {
                    () = &mut shutdown => break,
                    slot = slots.clone().acquire_owned() => slot.expect("never closed"),
                    () = tokio::time::sleep(AT_CEILING_RECHECK) => continue,
                }
            }
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
        let id = registry.next_id();
        let activity = Arc::new(Activity::new(id, limits, load.clone()));
        registry.admit(activity.clone());
        let (router, stopping, open, registry) = (
            router.clone(),
            stopping.clone(),
            open.clone(),
            registry.clone(),
        );
        open.opened();
        tokio::spawn(async move {
            let held = Held {
                stream,
                activity,
                slot,
            };
            connection(held, router, limits, stopping).await;
            registry.remove(id);
            open.closed();
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it closes.
    let all = u32::try_from(ceiling).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// What one accepted connection owns.
struct Held {
    stream: TcpStream,
    activity: Arc<Activity>,
    slot: OwnedSemaphorePermit,
}

/// One connection: hyper serves it while the watchdog enforces the deadlines and the shed.
async fn connection(
    held: Held,
    router: Router,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<bool>,
) {
    let Held {
        stream,
        activity,
        slot: _slot,
    } = held;
    let io = TokioIo::new(Tracked::new(stream, activity.clone()));
    let service = hyper::service::service_fn({
        let activity = activity.clone();
        move |request: Request<Incoming>| {
            let in_flight = activity.request_started();
            let answer = router.clone().oneshot(request.map(Body::new));
            async move {
                // In flight until the body's end, not the head's: a stream is not idle.
                let response = answer.await?;
                Ok::<_, std::convert::Infallible>(
                    response.map(|body| Body::new(UntilEnd::new(body, in_flight))),
                )
            }
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        // The watchdog keeps this deadline; hyper's own would also cut idle keep-alives.
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let mut closing = Closing::Open;
    if *stopping.borrow() {
        closing = Closing::Draining(tokio::time::Instant::now() + limits.drain_grace);
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
            () = changed => match activity.next() {
                Next::Carry => {}
                Next::CloseNow => return,
                Next::FinishThenClose => if closing == Closing::Open {
                    closing = Closing::AfterResponse;
                    conn.as_mut().graceful_shutdown();
                },
            },
            () = watchdog::sleep_until(deadline) => {
                if activity.expired() {
                    tracing::debug!("closing a connection past its deadline");
                    return;
                }
            }
            () = watchdog::sleep_until(closing.drained_at()) => {
                tracing::debug!("closing a response still being written at shutdown");
                return;
            }
            _ = stopping.changed(), if !closing.draining() => {
                if closing == Closing::Open {
                    conn.as_mut().graceful_shutdown();
                }
                closing = Closing::Draining(tokio::time::Instant::now() + limits.drain_grace);
            }
        }
    }
}

/// How far a connection is from closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    Open,
    /// Shed while serving: closes after its response.
    AfterResponse,
    /// Shutting down: closes after its response, or at this instant.
    Draining(tokio::time::Instant),
}

impl Closing {
    fn draining(self) -> bool {
        matches!(self, Closing::Draining(_))
    }

    fn drained_at(self) -> Option<tokio::time::Instant> {
        match self {
            Closing::Draining(at) => Some(at),
            _ => None,
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
