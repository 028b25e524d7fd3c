-- Signal ids are idempotency keys per meeting: the same id in another meeting is a new
-- signal. Ids remembered before were per project and their meeting was not kept: they get
-- room_id '' (never a valid meeting id), and ingest treats them as seen in every meeting.
CREATE TABLE signals_per_meeting (
    project_id   TEXT NOT NULL,
    room_id      TEXT NOT NULL,
    signal_id    TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (project_id, room_id, signal_id)
) WITHOUT ROWID;
INSERT INTO signals_per_meeting (project_id, room_id, signal_id, received_at)
SELECT project_id, '', signal_id, received_at FROM signals;
DROP TABLE signals;
ALTER TABLE signals_per_meeting RENAME TO signals;
