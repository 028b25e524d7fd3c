//! What a connection is doing (idle, reading a request head, serving), and the deadline that
//! follows from it; the socket wrapper that notices received bytes.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::ConnectionLimits;

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// No request in flight and nothing received since `since`.
    Idle { since: Instant },
    /// Bytes of a request head arrived, the first at `since`; the head is not complete yet.
    ReadingHead { since: Instant },
    /// Requests in flight; the API's request timeout bounds them.
    Serving { requests: usize },
}

pub(super) struct Activity {
    phase: Mutex<Phase>,
    limits: ConnectionLimits,
    changed: Notify,
}

impl Activity {
    pub(super) fn new(limits: ConnectionLimits) -> Self {
        Activity {
            phase: Mutex::new(Phase::Idle {
                since: Instant::now(),
            }),
            limits,
            changed: Notify::new(),
        }
    }

    fn update(&self, step: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.phase.lock().expect("connection phase");
        *phase = step(*phase);
        // A stored permit, so a change between reading the deadline and waiting is not missed.
        self.changed.notify_one();
    }

    /// Completes when the phase changed since the last call.
    pub(super) async fn changed(&self) {
        self.changed.notified().await
    }

    fn bytes_received(&self) {
        let idle = matches!(
            *self.phase.lock().expect("connection phase"),
            Phase::Idle { .. }
        );
        if idle {
            self.update(|_| Phase::ReadingHead {
                since: Instant::now(),
            });
        }
    }

    /// Marks a request in flight until the guard is dropped.
    pub(super) fn request_started(self: &Arc<Self>) -> InFlight {
        self.update(|phase| match phase {
            Phase::Serving { requests } => Phase::Serving {
                requests: requests + 1,
            },
            _ => Phase::Serving { requests: 1 },
        });
        InFlight(self.clone())
    }

    /// When the connection must be closed if nothing changes; `None` while serving.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match *self.phase.lock().expect("connection phase") {
            Phase::Idle { since } => Some(since + self.limits.idle_timeout),
            Phase::ReadingHead { since } => Some(since + self.limits.header_read_timeout),
            Phase::Serving { .. } => None,
        }
    }

    pub(super) fn expired(&self) -> bool {
        self.deadline().is_some_and(|at| at <= Instant::now())
    }
}

/// A request in flight; dropping it (answered, or abandoned) ends it.
pub(super) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.update(|phase| match phase {
            Phase::Serving { requests } if requests > 1 => Phase::Serving {
                requests: requests - 1,
            },
            _ => Phase::Idle {
                since: Instant::now(),
            },
        });
    }
}

/// Sleeps until `deadline`, or forever without one.
pub(super) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The accepted socket, telling the watchdog when bytes arrive.
pub(super) struct Tracked {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl Tracked {
    pub(super) fn new(stream: TcpStream, activity: Arc<Activity>) -> Self {
        Tracked { stream, activity }
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_received();
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
