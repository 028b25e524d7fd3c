//! A response body that keeps its request in flight until the body ends, so a streaming
//! response (server-sent events) is never taken for an idle connection.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use http_body::{Frame, SizeHint};

use super::watchdog::InFlight;

pub(super) struct UntilEnd {
    body: Body,
    in_flight: Option<InFlight>,
}

impl UntilEnd {
    pub(super) fn new(body: Body, in_flight: InFlight) -> Self {
        UntilEnd {
            body,
            in_flight: Some(in_flight),
        }
    }
}

impl HttpBody for UntilEnd {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.in_flight = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
