-- Projects (tenants) and their hashed API keys.
CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);
CREATE TABLE api_keys (
    key_hash    BLOB PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id),
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Rooms carry the engine's state for their meeting as JSON.
CREATE TABLE rooms (
    project_id     TEXT NOT NULL,
    room_id        TEXT NOT NULL,
    custom         INTEGER NOT NULL,
    webhook        TEXT,
    state          TEXT NOT NULL,
    next_timer_at  INTEGER,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (project_id, room_id)
) WITHOUT ROWID;
CREATE INDEX rooms_next_timer ON rooms(next_timer_at) WHERE next_timer_at IS NOT NULL;

-- Signal ids seen, for idempotency.
CREATE TABLE signals (
    project_id   TEXT NOT NULL,
    signal_id    TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (project_id, signal_id)
) WITHOUT ROWID;

-- Sessions: the engine's session header, written when a session starts and when it ends.
CREATE TABLE sessions (
    position    INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    room_id     TEXT NOT NULL,
    doc         TEXT NOT NULL,
    UNIQUE (project_id, session_id)
);
CREATE INDEX sessions_by_room ON sessions(project_id, room_id, position);

-- One row per participant per session they attended: name, timelog, staleness clock.
-- The latest row of a participant (highest position) is their current record.
CREATE TABLE participants (
    position        INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id      TEXT NOT NULL,
    room_id         TEXT NOT NULL,
    participant_id  TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    join_order      INTEGER NOT NULL,
    doc             TEXT NOT NULL,
    UNIQUE (project_id, room_id, participant_id, session_id)
);
CREATE INDEX participants_by_session ON participants(project_id, session_id, join_order);

-- The event log: exact payload bytes, per-meeting sequence.
-- An event's id is `evt_<position>`.
CREATE TABLE events (
    position      INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id    TEXT NOT NULL,
    room_id       TEXT NOT NULL,
    session_id    TEXT NOT NULL,
    sequence      INTEGER NOT NULL,
    webhook_type  TEXT NOT NULL,
    payload       BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (project_id, room_id, sequence)
);
CREATE INDEX events_by_project ON events(project_id, position);
