DROP INDEX mfa_users_email;
ALTER TABLE audit_events DROP COLUMN last_at;
ALTER TABLE audit_events DROP COLUMN attempts;
ALTER TABLE audit_events DROP COLUMN lock_threshold;
ALTER TABLE audit_events DROP COLUMN trace_id;
ALTER TABLE audit_events DROP COLUMN user_agent;
ALTER TABLE audit_events DROP COLUMN client_ip;
