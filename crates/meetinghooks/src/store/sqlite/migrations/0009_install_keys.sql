-- Keys of this install that never change: `public_ids` turns row positions into the public
-- message and event ids and page cursors (domain::public_ids), random per install.
CREATE TABLE install_keys (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
INSERT INTO install_keys (name, value) VALUES ('public_ids', randomblob(16));
