-- Keys of this install that never change: `public_ids` turns row positions into the public
-- message and event ids and page cursors (domain::public_ids), random per install
-- (gen_random_uuid draws from a cryptographic source).
CREATE TABLE install_keys (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
INSERT INTO install_keys (name, value)
VALUES ('public_ids', decode(replace(gen_random_uuid()::TEXT, '-', ''), 'hex'));
