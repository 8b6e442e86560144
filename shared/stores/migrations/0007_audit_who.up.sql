-- Who tried: every attempt's audit row carries the client's address (as MFA_AUDIT_ADDRESS
-- records it), the user-agent label trusted devices use ("Chrome on macOS", never the header),
-- the trace id (W3C, when the request had one), and the lock threshold that applied. Refused
-- attempts (429 while delayed or locked, a burned mfaToken, recovery throttling) are grouped:
-- one row per user, factor, reason and minute, `attempts` counting them (shared/mfa/flow.py),
-- `last_at` the latest one counted.
ALTER TABLE audit_events ADD COLUMN client_ip text;
ALTER TABLE audit_events ADD COLUMN user_agent text;
ALTER TABLE audit_events ADD COLUMN trace_id text;
ALTER TABLE audit_events ADD COLUMN lock_threshold integer;
ALTER TABLE audit_events ADD COLUMN attempts integer NOT NULL DEFAULT 1;
ALTER TABLE audit_events ADD COLUMN last_at double precision;
-- Refused recoveries are recorded for every user with the email tried (shared/mfa/users.py).
CREATE INDEX mfa_users_email ON mfa_users (email);
