-- Sources: media servers posting their own webhooks (LiveKit). An API key belongs to one
-- source only, in any project, since LiveKit's requests are found by it.
CREATE TABLE sources (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id),
    kind TEXT NOT NULL,
    hls_rewrite_from TEXT,
    hls_rewrite_to TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX sources_by_project ON sources (project_id, created_at);
CREATE TABLE source_keys (
    api_key TEXT PRIMARY KEY,
    source_id TEXT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    api_secret TEXT NOT NULL
);
CREATE INDEX source_keys_by_source ON source_keys (source_id, position);
