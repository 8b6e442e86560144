DROP TABLE mfa_configurations;
DROP INDEX audit_events_at;
DROP INDEX audit_events_tenant_at;
DROP INDEX outbox_events_unnotified;
DROP INDEX outbox_events_pending;
DROP TABLE outbox_events;
