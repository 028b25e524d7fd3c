-- API keys get an id (to revoke them by), the prefix that names them in listings and the
-- time of their last use. Existing keys get random ids and no prefix until they are next used.
ALTER TABLE api_keys
    ADD COLUMN id TEXT NOT NULL DEFAULT ('key_' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 16)),
    ADD COLUMN prefix TEXT,
    ADD COLUMN last_used_at BIGINT;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_id_key UNIQUE (id);
CREATE INDEX api_keys_by_project ON api_keys(project_id, created_at);
