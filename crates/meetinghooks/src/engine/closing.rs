//! How a session ends: on request, or when a media server reports the room over; and while
//! a lifecycle-tracked resource (an egress) is still live, it waits: its participants are
//! gone, its other media closed, and `session-ended` follows the last egress's end (which
//! carries the file), a join, or the deadline.

use super::media::Closes;
use super::state::{Closing, ClosingCause};
use super::Run;
use crate::domain::timestamp::Timestamp;

/// How long a session whose participants are gone waits for its tracked media (egresses) to
/// end before it ends anyway; an egress uploads its file after the room is over.
pub const TRACKED_MEDIA_WAIT_MS: i64 = 10 * 60 * 1000;

/// A request to end a meeting's ongoing session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionEnd {
    pub at: Timestamp,
    pub kind: EndKind,
    /// When the request reached us: a waiting session's deadline counts from here, so a
    /// report that arrives late (its sender retried for a while) still gets the whole wait.
    pub received: Timestamp,
}

impl SessionEnd {
    /// An end requested now (`EndKind::Now`).
    pub fn now(at: Timestamp) -> Self {
        SessionEnd {
            at,
            kind: EndKind::Now,
            received: at,
        }
    }

    /// The media server reports the room over at `at`; the report reached us at `received`.
    pub fn room_finished(at: Timestamp, received: Timestamp) -> Self {
        SessionEnd {
            at,
            kind: EndKind::RoomFinished,
            received,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndKind {
    /// `POST /v2/sessions/end`, auto-close: everything ends now, live media included.
    Now,
    /// The media server reports the room over (LiveKit's `room_finished`): stale if dated
    /// before the session began; live egresses may still report their end (and file).
    RoomFinished,
}

impl Run<'_> {
    /// Ends the session at `at`, unless a tracked resource (an egress) is still live: then
    /// the rest of its media closes now and the session waits for those (`Closing`).
    pub(super) fn close_or_wait(&mut self, at: Timestamp, cause: ClosingCause) {
        let now = self.now;
        let session = self.session();
        if !session.has_tracked_media() {
            return self.finish_session(at);
        }
        let closing = match session.closing {
            // Still ending when it first emptied; only the cause moves on.
            Some(c) => Closing { cause, ..c },
            None => Closing {
                at: session.latest.max(at),
                deadline: at.max(now).plus_millis(TRACKED_MEDIA_WAIT_MS),
                cause,
            },
        };
        session.latest = closing.at;
        session.closing = Some(closing);
        self.close_media(closing.at, Closes::Untracked);
    }

    /// Ends a closing session whose last tracked resource has just ended.
    pub(super) fn end_if_closed(&mut self) {
        let closing = self
            .meeting
            .state
            .session
            .as_ref()
            .and_then(|s| s.closing.filter(|_| !s.has_tracked_media()));
        if let Some(closing) = closing {
            self.finish_session(closing.at);
        }
    }

    /// Ends a closing session now, its tracked media closed without what their end would
    /// have reported.
    pub(super) fn finish_closing(&mut self) {
        if let Some(closing) = self.meeting.state.session.as_ref().and_then(|s| s.closing) {
            self.finish_session(closing.at);
        }
    }

    /// Ends a closing session whose deadline `expired` selects.
    pub(super) fn expire_closing(&mut self, expired: impl Fn(Timestamp) -> bool) {
        let due = self.meeting.state.session.as_ref().and_then(|s| s.closing);
        if due.is_some_and(|c| expired(c.deadline)) {
            self.finish_closing();
        }
    }
}
