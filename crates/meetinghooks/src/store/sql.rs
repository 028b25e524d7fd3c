//! SQL both dialects share, up to placeholders.

/// The statuses retention may delete: nothing will happen to these messages any more, short
/// of a manual `recover` or `resend`.
pub const FINISHED: &str = "('succeeded', 'failed', 'exhausted', 'skipped')";

/// The statuses `recover` puts back ([`crate::outbox::RECOVERABLE`]).
pub const RECOVERABLE: &str = "('failed', 'exhausted', 'skipped')";

/// Selects up to `$2` finished messages created before `$1`, oldest first. The scan stops at
/// the first message created after the cutoff, so it costs what is old, not the whole table.
pub fn finished_before_sql(placeholder: fn(usize) -> String) -> String {
    let (cutoff, limit) = (placeholder(1), placeholder(2));
    format!(
        "SELECT position FROM messages
         WHERE position < COALESCE(
                 (SELECT position FROM messages WHERE created_at >= {cutoff}
                  ORDER BY position LIMIT 1), 9223372036854775807)
           AND created_at < {cutoff} AND status IN {FINISHED}
         ORDER BY position LIMIT {limit}"
    )
}

#[cfg(test)]
mod tests {
    use crate::outbox::{MessageStatus, RECOVERABLE};

    fn list(statuses: &[MessageStatus]) -> String {
        let quoted: Vec<String> = statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        format!("({})", quoted.join(", "))
    }

    #[test]
    fn the_sql_lists_name_the_outbox_statuses() {
        assert_eq!(super::RECOVERABLE, list(&RECOVERABLE));
        let finished = MessageStatus::ALL.into_iter().filter(|s| {
            !matches!(
                s,
                MessageStatus::Waiting | MessageStatus::Pending | MessageStatus::Delivering
            )
        });
        assert_eq!(super::FINISHED, list(&finished.collect::<Vec<_>>()));
    }
}
