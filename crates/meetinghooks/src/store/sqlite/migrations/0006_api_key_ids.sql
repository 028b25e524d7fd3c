-- API keys get an id (to revoke them by), the prefix that names them in listings and the
-- time of their last use. SQLite cannot add a column with a random default, so the table
-- is rebuilt; existing keys get random ids and no prefix until they are next used.
CREATE TABLE api_keys_with_ids (
    id            TEXT NOT NULL UNIQUE DEFAULT ('key_' || lower(hex(randomblob(8)))),
    key_hash      BLOB PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects(id),
    prefix        TEXT,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
) WITHOUT ROWID;
INSERT INTO api_keys_with_ids (key_hash, project_id, created_at)
SELECT key_hash, project_id, created_at FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_with_ids RENAME TO api_keys;
CREATE INDEX api_keys_by_project ON api_keys(project_id, created_at);
