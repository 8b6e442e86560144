DROP INDEX outbox_events_at;
DROP INDEX mfa_token_uses_expires;
DROP TABLE mfa_token_uses;
