-- The messages listing of a project (GET /v1/messages without endpointId), as on PostgreSQL.
CREATE INDEX IF NOT EXISTS messages_by_project ON messages(project_id, position);
