-- Signal ids are idempotency keys per meeting: the same id in another meeting is a new
-- signal. Ids remembered before were per project and their meeting was not kept: they get
-- room_id '' (never a valid meeting id), and ingest treats them as seen in every meeting.
ALTER TABLE signals ADD COLUMN room_id TEXT NOT NULL DEFAULT '';
ALTER TABLE signals DROP CONSTRAINT signals_pkey;
ALTER TABLE signals ADD PRIMARY KEY (project_id, room_id, signal_id);
ALTER TABLE signals ALTER COLUMN room_id DROP DEFAULT;
