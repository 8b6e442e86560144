ALTER TABLE mfa_users DROP COLUMN factors_changed_at;
