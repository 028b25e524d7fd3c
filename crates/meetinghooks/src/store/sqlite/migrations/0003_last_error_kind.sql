-- last_error holds why the last attempt failed (`connect: connection refused`, `http 500`);
-- last_error_kind its kind, for programs. Before, last_error held only the kind.
ALTER TABLE messages ADD COLUMN last_error_kind TEXT;
UPDATE messages SET last_error_kind = last_error WHERE last_error IS NOT NULL;
UPDATE messages SET last_error_kind = 'http', last_error = 'http ' || last_status_code
WHERE last_error IS NULL AND last_status_code NOT BETWEEN 200 AND 299;
