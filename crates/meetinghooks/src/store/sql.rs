//! SQL both dialects share, up to placeholders.

use super::rows;

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

/// The listings, in PostgreSQL's placeholders; SQLite reads them through [`sqlite_placeholders`].
/// `$7` is the highest position a listing may show (PostgreSQL's settled position; SQLite,
/// whose single writer commits in position order, passes `i64::MAX`).
pub fn events_page() -> String {
    format!(
        "SELECT {} FROM events
         WHERE project_id = $1 AND position > $2 AND position <= $7
           AND (CAST($3 AS TEXT) IS NULL OR room_id = $3)
           AND (CAST($4 AS TEXT) IS NULL OR session_id = $4)
           AND (CAST($5 AS TEXT) IS NULL OR webhook_type = $5)
         ORDER BY position LIMIT $6",
        rows::EVENT_COLUMNS
    )
}

/// Same parameters as [`events_page`]: project, after, endpoint, meeting, status, limit, settled.
pub fn messages_page() -> String {
    format!(
        "SELECT {} FROM messages m JOIN events e ON e.position = m.event_position
         WHERE m.project_id = $1 AND m.position > $2 AND m.position <= $7
           AND (CAST($3 AS TEXT) IS NULL OR m.endpoint_id = $3)
           AND (CAST($4 AS TEXT) IS NULL OR m.room_id = $4)
           AND (CAST($5 AS TEXT) IS NULL OR m.status = $5)
         ORDER BY m.position LIMIT $6",
        rows::MESSAGE_COLUMNS
    )
}

/// One message of a project, by position.
pub fn message_by_position() -> String {
    format!(
        "SELECT {} FROM messages m JOIN events e ON e.position = m.event_position
         WHERE m.project_id = $1 AND m.position = $2",
        rows::MESSAGE_COLUMNS
    )
}

/// A message's attempts after the `$2` cursor, `$3` at most.
pub fn attempts_page() -> String {
    format!(
        "SELECT {} FROM attempts WHERE message_position = $1 AND id > $2 ORDER BY id LIMIT $3",
        rows::ATTEMPT_COLUMNS
    )
}

/// A room's sessions, newest first, before the `$3` position, `$4` at most.
pub const SESSIONS_PAGE: &str = "SELECT room_id, doc, position FROM sessions
     WHERE project_id = $1 AND room_id = $2 AND position < $3
     ORDER BY position DESC LIMIT $4";

pub const SESSION_BY_ID: &str =
    "SELECT room_id, doc FROM sessions WHERE project_id = $1 AND session_id = $2";

/// `$n` placeholders as SQLite numbers them (`?n`).
pub fn sqlite_placeholders(sql: &str) -> String {
    sql.replace('$', "?")
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
