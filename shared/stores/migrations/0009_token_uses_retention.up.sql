-- An mfaToken's single use, decided by Postgres: the statement that writes a login's success
-- (the TOTP step advance, the audit row) also inserts the token's hash here, and only the
-- first insert of a hash writes anything (shared.events.audit, TokenUse). A row is needed only
-- while its token could still be presented: rows past expires_at are cleared in batches.
CREATE TABLE mfa_token_uses (
    token_hash  text PRIMARY KEY,
    expires_at  double precision NOT NULL
);
CREATE INDEX mfa_token_uses_expires ON mfa_token_uses (expires_at);

-- Outbox pruning deletes old rows in batches by time (audit pruning uses audit_events_at).
CREATE INDEX outbox_events_at ON outbox_events (at);
