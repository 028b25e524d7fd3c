-- Per-project secret that signs every room's own webhook, with a rotation overlap.
ALTER TABLE projects ADD COLUMN room_secret TEXT;
ALTER TABLE projects ADD COLUMN room_secret_previous TEXT;
ALTER TABLE projects ADD COLUMN room_secret_previous_until INTEGER;

-- Where events go. A room's own webhook is an endpoint with room_id set.
CREATE TABLE endpoints (
    id                       TEXT PRIMARY KEY,
    project_id               TEXT NOT NULL,
    room_id                  TEXT,
    url                      TEXT NOT NULL,
    description              TEXT NOT NULL DEFAULT '',
    events                   TEXT NOT NULL,
    ordering                 TEXT NOT NULL,
    rate_limit               INTEGER,
    headers                  TEXT NOT NULL DEFAULT '{}',
    retry_schedule           TEXT,
    timeout_ms               INTEGER,
    disabled                 INTEGER NOT NULL DEFAULT 0,
    disabled_reason          TEXT,
    secret                   TEXT NOT NULL,
    secret_previous          TEXT,
    secret_previous_until    INTEGER,
    failing_since            INTEGER,
    last_success_at          INTEGER,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL,
    UNIQUE (project_id, room_id)
);
CREATE INDEX endpoints_by_project ON endpoints(project_id, created_at);

-- One message per (event, endpoint). Its id, `msg_<position>`, is the webhook-id of every attempt.
-- status: waiting (behind an earlier message of its meeting) | pending | delivering |
--         succeeded | failed | exhausted | skipped
-- due_at: next attempt for pending, lease expiry for delivering.
CREATE TABLE messages (
    position         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id       TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL,
    event_position   INTEGER NOT NULL,
    room_id          TEXT NOT NULL,
    ordered          INTEGER NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    due_at           INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    last_attempt_at  INTEGER,
    last_status_code INTEGER,
    last_error       TEXT
);
CREATE INDEX messages_due ON messages(endpoint_id, due_at) WHERE status IN ('pending', 'delivering');
-- Per (endpoint, meeting) queue: "is one in line?" and "which waits next?" are single seeks.
CREATE INDEX messages_queue ON messages(endpoint_id, room_id, status, event_position);
CREATE INDEX messages_by_endpoint ON messages(endpoint_id, position);

CREATE TABLE attempts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    message_position INTEGER NOT NULL,
    attempted_at   INTEGER NOT NULL,
    duration_ms    INTEGER NOT NULL,
    status_code    INTEGER,
    error_kind     TEXT,
    response_body  TEXT
);
CREATE INDEX attempts_by_message ON attempts(message_position, id);
