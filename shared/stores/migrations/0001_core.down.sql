DROP TABLE audit_events;
DROP TABLE tenant_policies;
DROP TABLE remembered_devices;
DROP TABLE mfa_users;
DROP TABLE mfa_devices;
