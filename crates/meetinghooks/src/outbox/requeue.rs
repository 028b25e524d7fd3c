//! Putting finished messages back: a manual resend, and `recover`.

use super::{MessageStatus, TEST_ROOM};

/// Why a message cannot be resent now; the text is what the API answers (409).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the message is being delivered right now")]
    InFlight,
    #[error("the message is waiting for earlier messages of its meeting")]
    Waiting,
    #[error("another message of this meeting is in line; resend it once that one is done")]
    QueueInLine,
}

/// Whether a message may be leased for a manual resend; `Ok` carries the status a failed
/// resend returns it to. `queue_in_line`: its (endpoint, meeting) queue has a message pending
/// or delivering, which an ordered finished message must not overtake.
pub fn check_resend(
    status: MessageStatus,
    ordered: bool,
    queue_in_line: bool,
) -> Result<MessageStatus, Refusal> {
    match status {
        MessageStatus::Delivering => Err(Refusal::InFlight),
        MessageStatus::Waiting => Err(Refusal::Waiting),
        MessageStatus::Pending => Ok(status),
        _ if ordered && queue_in_line => Err(Refusal::QueueInLine),
        _ => Ok(status),
    }
}

/// The statuses `recover` puts back.
pub const RECOVERABLE: [MessageStatus; 3] = [
    MessageStatus::Failed,
    MessageStatus::Exhausted,
    MessageStatus::Skipped,
];

/// A recovered message: its new status and whether it is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requeue {
    pub position: i64,
    pub status: MessageStatus,
    pub ordered: bool,
}

/// A recoverable message as the store read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recoverable<'a> {
    pub position: i64,
    pub room_id: &'a str,
}

/// Re-queues recovered messages, due now: behind their queue (`waiting`) for an ordered
/// endpoint, `pending` otherwise and for test messages, which have no queue. The store then
/// repairs the endpoint's queues ([`super::plan_repair`]) so each head moves on.
pub fn plan_recover(endpoint_ordered: bool, messages: &[Recoverable<'_>]) -> Vec<Requeue> {
    messages
        .iter()
        .map(|m| {
            let ordered = endpoint_ordered && m.room_id != TEST_ROOM;
            let status = if ordered {
                MessageStatus::Waiting
            } else {
                MessageStatus::Pending
            };
            Requeue {
                position: m.position,
                status,
                ordered,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resend_refuses_what_is_moving_and_what_would_overtake() {
        use MessageStatus::*;
        assert_eq!(
            check_resend(Delivering, false, true),
            Err(Refusal::InFlight)
        );
        assert_eq!(check_resend(Waiting, true, true), Err(Refusal::Waiting));
        assert_eq!(check_resend(Pending, true, true), Ok(Pending));
        assert_eq!(check_resend(Failed, true, true), Err(Refusal::QueueInLine));
        assert_eq!(check_resend(Failed, false, true), Ok(Failed));
        assert_eq!(check_resend(Succeeded, true, false), Ok(Succeeded));
    }

    #[test]
    fn recover_queues_ordered_messages_and_leaves_test_messages_unordered() {
        let found = [
            Recoverable {
                position: 1,
                room_id: "r",
            },
            Recoverable {
                position: 2,
                room_id: TEST_ROOM,
            },
        ];
        let got: Vec<_> = plan_recover(true, &found)
            .iter()
            .map(|r| (r.status, r.ordered))
            .collect();
        assert_eq!(
            got,
            [
                (MessageStatus::Waiting, true),
                (MessageStatus::Pending, false)
            ]
        );
        assert!(plan_recover(false, &found)
            .iter()
            .all(|r| r.status == MessageStatus::Pending && !r.ordered));
    }
}
