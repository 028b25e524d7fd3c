-- The PostgreSQL schema: the same tables as SQLite's, in one migration.
-- Times are milliseconds since the Unix epoch, as in every store.

CREATE TABLE projects (
    id                          TEXT PRIMARY KEY,
    name                        TEXT NOT NULL UNIQUE,
    created_at                  BIGINT NOT NULL,
    room_secret                 TEXT,
    room_secret_previous        TEXT,
    room_secret_previous_until  BIGINT
);
CREATE TABLE api_keys (
    key_hash    BYTEA PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id),
    created_at  BIGINT NOT NULL
);

-- A room's row is its meeting's lock: every transaction that changes the meeting, or the
-- order of its messages, takes it with SELECT ... FOR UPDATE first.
CREATE TABLE rooms (
    project_id     TEXT NOT NULL,
    room_id        TEXT NOT NULL,
    custom         BOOLEAN NOT NULL,
    webhook        TEXT,
    state          TEXT NOT NULL,
    next_timer_at  BIGINT,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (project_id, room_id)
);
CREATE INDEX rooms_next_timer ON rooms(next_timer_at) WHERE next_timer_at IS NOT NULL;

CREATE TABLE signals (
    project_id   TEXT NOT NULL,
    signal_id    TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (project_id, signal_id)
);

CREATE TABLE sessions (
    position    BIGSERIAL PRIMARY KEY,
    project_id  TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    room_id     TEXT NOT NULL,
    doc         TEXT NOT NULL,
    UNIQUE (project_id, session_id)
);
CREATE INDEX sessions_by_room ON sessions(project_id, room_id, position);

CREATE TABLE participants (
    position        BIGSERIAL PRIMARY KEY,
    project_id      TEXT NOT NULL,
    room_id         TEXT NOT NULL,
    participant_id  TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    join_order      BIGINT NOT NULL,
    doc             TEXT NOT NULL,
    UNIQUE (project_id, room_id, participant_id, session_id)
);
CREATE INDEX participants_latest ON participants(project_id, room_id, participant_id, position);
CREATE INDEX participants_by_session ON participants(project_id, session_id, join_order);

CREATE TABLE events (
    position      BIGSERIAL PRIMARY KEY,
    project_id    TEXT NOT NULL,
    room_id       TEXT NOT NULL,
    session_id    TEXT NOT NULL,
    sequence      BIGINT NOT NULL,
    webhook_type  TEXT NOT NULL,
    payload       BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (project_id, room_id, sequence)
);
CREATE INDEX events_by_project ON events(project_id, position);

CREATE TABLE endpoints (
    id                       TEXT PRIMARY KEY,
    project_id               TEXT NOT NULL,
    room_id                  TEXT,
    url                      TEXT NOT NULL,
    description              TEXT NOT NULL DEFAULT '',
    events                   TEXT NOT NULL,
    ordering                 TEXT NOT NULL,
    rate_limit               BIGINT,
    headers                  TEXT NOT NULL DEFAULT '{}',
    retry_schedule           TEXT,
    timeout_ms               BIGINT,
    disabled                 BOOLEAN NOT NULL DEFAULT FALSE,
    disabled_reason          TEXT,
    secret                   TEXT NOT NULL,
    secret_previous          TEXT,
    secret_previous_until    BIGINT,
    failing_since            BIGINT,
    last_success_at          BIGINT,
    created_at               BIGINT NOT NULL,
    updated_at               BIGINT NOT NULL,
    UNIQUE (project_id, room_id)
);
CREATE INDEX endpoints_by_project ON endpoints(project_id, created_at);

-- status: waiting | pending | delivering | succeeded | failed | exhausted | skipped.
-- due_at: next attempt for pending, lease expiry for delivering.
CREATE TABLE messages (
    position         BIGSERIAL PRIMARY KEY,
    project_id       TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL,
    event_position   BIGINT NOT NULL,
    room_id          TEXT NOT NULL,
    ordered          BOOLEAN NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    due_at           BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    last_attempt_at  BIGINT,
    last_status_code INTEGER,
    last_error       TEXT
);
CREATE INDEX messages_due ON messages(endpoint_id, due_at) WHERE status IN ('pending', 'delivering');
CREATE INDEX messages_queue ON messages(endpoint_id, room_id, status, event_position);
CREATE INDEX messages_by_endpoint ON messages(endpoint_id, position);
CREATE INDEX messages_by_project ON messages(project_id, position);

CREATE TABLE attempts (
    id                BIGSERIAL PRIMARY KEY,
    message_position  BIGINT NOT NULL,
    attempted_at      BIGINT NOT NULL,
    duration_ms       BIGINT NOT NULL,
    status_code       INTEGER,
    error_kind        TEXT,
    response_body     TEXT
);
CREATE INDEX attempts_by_message ON attempts(message_position, id);
