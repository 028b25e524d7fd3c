//! Promotion: which waiting message of a queue goes next, and the repair of stranded queues.

use super::{Promotion, QueueKey};

/// A queue with a message waiting, as the store read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueHead<'a> {
    pub queue: QueueKey<'a>,
    /// The waiting message of the earliest event.
    pub first_waiting: i64,
    /// Whether a message of the queue is pending or delivering.
    pub in_line: bool,
}

/// A waiting message that goes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Promote<'a> {
    pub queue: QueueKey<'a>,
    pub position: i64,
    pub how: Promotion,
}

/// The head of each queue with nothing in line goes next, as `how(endpoint)` says. The store
/// writes `delivering` until the lease's end (returning the message to send) or `pending`
/// due now, "now" read by the store when it writes.
pub fn plan_promotion<'a>(
    heads: &[QueueHead<'a>],
    how: impl Fn(&str) -> Promotion,
) -> Vec<Promote<'a>> {
    heads
        .iter()
        .filter(|head| !head.in_line)
        .map(|head| Promote {
            queue: head.queue,
            position: head.first_waiting,
            how: how(head.queue.endpoint_id),
        })
        .collect()
}

/// Stranded-queue repair, after a re-enable or a recover: each queue whose head waits with
/// nothing in line becomes due now.
pub fn plan_repair<'a>(heads: &[QueueHead<'a>]) -> Vec<Promote<'a>> {
    plan_promotion(heads, |_| Promotion::DueNow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::timestamp::Timestamp;

    fn head(endpoint_id: &str, first_waiting: i64, in_line: bool) -> QueueHead<'_> {
        QueueHead {
            queue: QueueKey {
                endpoint_id,
                room_id: "r",
            },
            first_waiting,
            in_line,
        }
    }

    #[test]
    fn only_a_queue_with_nothing_in_line_moves_on() {
        let heads = [head("a", 7, false), head("b", 8, true), head("c", 9, false)];
        let lease = Promotion::Lease(Timestamp(100));
        let plan = plan_promotion(&heads, |e| if e == "a" { lease } else { Promotion::DueNow });
        let got: Vec<_> = plan.iter().map(|p| (p.position, p.how)).collect();
        assert_eq!(got, [(7, lease), (9, Promotion::DueNow)]);
    }

    #[test]
    fn repair_makes_heads_due_now() {
        let plan = plan_repair(&[head("a", 1, false), head("a", 2, true)]);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].how, Promotion::DueNow);
    }
}
