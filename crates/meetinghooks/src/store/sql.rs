//! SQL both dialects share, up to placeholders.

/// The statuses retention may delete: nothing will happen to these messages any more, short
/// of a manual `recover` or `resend`.
pub const FINISHED: &str = "('succeeded', 'failed', 'exhausted', 'skipped')";

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
