-- The VideoSDK signature: each project's RSA private key (PKCS#1 PEM, sealed) and, after a
-- rotation, the next key and when it takes over; which signatures each endpoint gets. Rooms'
-- own webhooks carry both, as VideoSDK's do.
ALTER TABLE projects ADD COLUMN rsa_key TEXT;
ALTER TABLE projects ADD COLUMN rsa_key_next TEXT;
ALTER TABLE projects ADD COLUMN rsa_key_next_from BIGINT;
ALTER TABLE endpoints ADD COLUMN signatures TEXT NOT NULL DEFAULT '["standard"]';
UPDATE endpoints SET signatures = '["standard","videosdk"]' WHERE room_id IS NOT NULL;
-- VideoSDK's room shape: a room can be deactivated (it then refuses joins), has an update
-- time, and keeps its autoCloseConfig ({"type","duration"} in minutes) as JSON.
ALTER TABLE rooms ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE rooms ADD COLUMN updated_at BIGINT;
ALTER TABLE rooms ADD COLUMN auto_close TEXT;
