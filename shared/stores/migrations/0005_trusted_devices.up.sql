-- Trusted (remembered) devices the user can see and revoke: one chain per browser, its token
-- rotated on every use; a rotated-out token stays (rotated_at set) so that its reuse is seen.
ALTER TABLE remembered_devices ADD COLUMN chain_id text;
ALTER TABLE remembered_devices ADD COLUMN label text NOT NULL DEFAULT '';
ALTER TABLE remembered_devices ADD COLUMN network text NOT NULL DEFAULT '';
ALTER TABLE remembered_devices ADD COLUMN last_used_at double precision;
ALTER TABLE remembered_devices ADD COLUMN rotated_at double precision;
UPDATE remembered_devices SET chain_id = 'legacy-' || substr(token_hash, 1, 16) WHERE chain_id IS NULL;
CREATE INDEX remembered_devices_chain ON remembered_devices (chain_id);
