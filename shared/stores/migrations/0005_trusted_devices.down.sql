DROP INDEX remembered_devices_chain;
ALTER TABLE remembered_devices DROP COLUMN rotated_at;
ALTER TABLE remembered_devices DROP COLUMN last_used_at;
ALTER TABLE remembered_devices DROP COLUMN network;
ALTER TABLE remembered_devices DROP COLUMN label;
ALTER TABLE remembered_devices DROP COLUMN chain_id;
