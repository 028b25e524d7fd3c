//! What a connection is doing (idle, reading a request head, serving), whether it was picked
//! to be shed, and the deadline that follows; the socket wrapper that notices received bytes
//! and blocked writes.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::shedding::Load;
use super::ConnectionLimits;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// No request in flight and nothing received since `since`.
    Idle { since: Instant },
    /// Bytes of a request head arrived, the first at `since`; the head is not complete yet.
    ReadingHead { since: Instant },
    /// Requests in flight, from a complete head until the response body's end; the API's
    /// request timeout bounds reading the request, and a blocked write bounds the response.
    Serving { requests: usize },
}

/// Whether the accept loop asked this connection to go, to make room past the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fate {
    Kept,
    Shed,
}

#[derive(Debug, Clone, Copy)]
struct State {
    phase: Phase,
    fate: Fate,
    /// Since when the socket has refused our bytes (the peer does not read), if it does.
    write_blocked_since: Option<Instant>,
}

/// What the connection's task does after its state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    Carry,
    /// Shed while serving or flushing: finish that, then close.
    FinishThenClose,
    /// Shed with nothing in flight: close now.
    CloseNow,
}

pub(super) struct Activity {
    /// Its place in the accept order.
    pub(super) id: u64,
    state: Mutex<State>,
    limits: ConnectionLimits,
    load: Arc<Load>,
    changed: Notify,
}

impl Activity {
    pub(super) fn new(id: u64, limits: ConnectionLimits, load: Arc<Load>) -> Self {
        Activity {
            id,
            state: Mutex::new(State {
                phase: Phase::Idle {
                    since: Instant::now(),
                },
                fate: Fate::Kept,
                write_blocked_since: None,
            }),
            limits,
            load,
            changed: Notify::new(),
        }
    }

    fn state(&self) -> State {
        *self.state.lock().expect("connection state")
    }

    fn update(&self, step: impl FnOnce(&mut State)) {
        let mut state = self.state.lock().expect("connection state");
        let before = state.phase;
        step(&mut state);
        match (before, state.phase) {
            (Phase::ReadingHead { .. }, Phase::ReadingHead { .. }) => {}
            (Phase::ReadingHead { since }, _) => self.load.head_ended(since, self.id),
            (_, Phase::ReadingHead { since }) => self.load.head_started(since, self.id),
            _ => {}
        }
        // A stored permit, so a change between reading the deadline and waiting is not missed.
        self.changed.notify_one();
    }

    /// Completes when the state changed since the last call.
    pub(super) async fn changed(&self) {
        self.changed.notified().await
    }

    pub(super) fn phase(&self) -> Phase {
        self.state().phase
    }

    fn bytes_received(&self) {
        if matches!(self.phase(), Phase::Idle { .. }) {
            self.update(|s| {
                s.phase = Phase::ReadingHead {
                    since: Instant::now(),
                }
            });
        }
    }

    fn write_blocked(&self, blocked: bool) {
        self.update(|s| s.write_blocked_since = blocked.then(Instant::now));
    }

    /// Marks a request in flight until the guard is dropped.
    pub(super) fn request_started(self: &Arc<Self>) -> InFlight {
        self.update(|s| {
            s.phase = match s.phase {
                Phase::Serving { requests } => Phase::Serving {
                    requests: requests + 1,
                },
                _ => Phase::Serving { requests: 1 },
            }
        });
        InFlight(self.clone())
    }

    /// Asks the connection to go; refused (false) while it serves a request.
    pub(super) fn shed(&self) -> bool {
        let mut refused = false;
        self.update(|s| match s.phase {
            Phase::Serving { .. } => refused = true,
            _ => s.fate = Fate::Shed,
        });
        !refused
    }

    /// Decided by the connection's own task, between polls of hyper, so a head completed
    /// after `shed` was asked is still answered.
    pub(super) fn next(&self) -> Next {
        let state = self.state();
        match (state.fate, state.phase, state.write_blocked_since) {
            (Fate::Kept, _, _) => Next::Carry,
            (Fate::Shed, Phase::Serving { .. }, _) | (Fate::Shed, _, Some(_)) => {
                Next::FinishThenClose
            }
            (Fate::Shed, _, None) => Next::CloseNow,
        }
    }

    /// When to look again at whether the connection is past its deadline; `None` while
    /// serving with writes flowing.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let state = self.state();
        match state.phase {
            Phase::Idle { since } => Some(since + self.limits.idle_timeout),
            Phase::ReadingHead { since } => {
                let pressed = since + self.pressed_head_timeout();
                let now = Instant::now();
                if now < pressed {
                    Some(pressed)
                } else {
                    // Pressure may begin later: look again within the short deadline.
                    let full = since + self.limits.header_read_timeout;
                    Some(full.min(now + self.pressed_head_timeout()))
                }
            }
            Phase::Serving { .. } => state
                .write_blocked_since
                .map(|since| since + self.limits.idle_timeout),
        }
    }

    /// Whether the connection is past its deadline now. A head's deadline is shortened while
    /// more than half the cap reads heads: such connections cost an attacker nothing.
    pub(super) fn expired(&self) -> bool {
        let now = Instant::now();
        let state = self.state();
        match state.phase {
            Phase::Idle { since } => now >= since + self.limits.idle_timeout,
            Phase::ReadingHead { since } => {
                now >= since + self.limits.header_read_timeout
                    || (now >= since + self.pressed_head_timeout() && self.load.under_pressure())
            }
            Phase::Serving { .. } => state
                .write_blocked_since
                .is_some_and(|since| now >= since + self.limits.idle_timeout),
        }
    }

    fn pressed_head_timeout(&self) -> std::time::Duration {
        self.limits
            .header_read_timeout
            .min(super::PRESSED_HEAD_TIMEOUT)
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        if let Phase::ReadingHead { since } = self.phase() {
            self.load.head_ended(since, self.id);
        }
    }
}

/// A request in flight; dropping it (the response body ended, or was abandoned) ends it.
pub(super) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.update(|s| {
            s.phase = match s.phase {
                Phase::Serving { requests } if requests > 1 => Phase::Serving {
                    requests: requests - 1,
                },
                _ => Phase::Idle {
                    since: Instant::now(),
                },
            }
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

/// The accepted socket, telling the watchdog when bytes arrive and when writes block.
pub(super) struct Tracked {
    stream: TcpStream,
    activity: Arc<Activity>,
    blocked: bool,
}

impl Tracked {
    pub(super) fn new(stream: TcpStream, activity: Arc<Activity>) -> Self {
        Tracked {
            stream,
            activity,
            blocked: false,
        }
    }

    /// Notes a write's outcome, touching the shared state only when blocking starts or ends.
    fn wrote<T>(&mut self, result: Poll<T>) -> Poll<T> {
        let blocked = result.is_pending();
        if blocked != self.blocked {
            self.blocked = blocked;
            self.activity.write_blocked(blocked);
        }
        result
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
        let result = Pin::new(&mut self.stream).poll_write(cx, data);
        self.wrote(result)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.stream).poll_flush(cx);
        self.wrote(result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.wrote(result)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn activity() -> Arc<Activity> {
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 16,
            drain_grace: Duration::from_secs(1),
        };
        Arc::new(Activity::new(0, limits, Arc::new(Load::new(16))))
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_being_written_is_not_idle_until_its_writes_block() {
        let activity = activity();
        let in_flight = activity.request_started();
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(activity.deadline(), None);
        assert!(!activity.expired());
        // The peer stops reading: the idle timeout runs from the first blocked write.
        activity.write_blocked(true);
        tokio::time::advance(Duration::from_secs(74)).await;
        assert!(!activity.expired());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(activity.expired());
        // Writes flow again: no deadline.
        activity.write_blocked(false);
        assert!(!activity.expired());
        drop(in_flight);
        assert!(matches!(activity.phase(), Phase::Idle { .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn a_shed_connection_finishes_its_response_first() {
        let activity = activity();
        let in_flight = activity.request_started();
        assert!(!activity.shed(), "refused while serving");
        drop(in_flight);
        assert!(activity.shed());
        assert_eq!(activity.next(), Next::CloseNow);
        activity.write_blocked(true);
        assert_eq!(activity.next(), Next::FinishThenClose);
    }
}
