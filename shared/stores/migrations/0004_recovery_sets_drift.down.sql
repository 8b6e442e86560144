ALTER TABLE mfa_devices DROP COLUMN drift;
DROP TABLE recovery_codes;
