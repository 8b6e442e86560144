-- Core durable state. Portable SQL: runs on Postgres and on SQLite (embedded mode).
-- Times are Unix seconds (double precision); JSON documents are text.

CREATE TABLE mfa_devices (
    id            text PRIMARY KEY,
    tenant_id     text NOT NULL,
    user_id       text NOT NULL,
    kind          text NOT NULL,                 -- totp | sms | webauthn
    name          text NOT NULL DEFAULT '',
    data          text NOT NULL DEFAULT '{}',    -- non-secret attributes (JSON)
    secret        text,                          -- AES-GCM envelope "kid.base64"
    lookup        text,                          -- kind-specific unique key (credential id)
    last_step     bigint NOT NULL DEFAULT -1,    -- TOTP replay guard (RFC 6238 section 5.2)
    sign_count    bigint NOT NULL DEFAULT 0,     -- WebAuthn signature counter
    created_at    double precision NOT NULL,
    last_used_at  double precision
);
CREATE INDEX mfa_devices_user ON mfa_devices (tenant_id, user_id);
CREATE UNIQUE INDEX mfa_devices_lookup ON mfa_devices (kind, lookup);

CREATE TABLE mfa_users (
    tenant_id      text NOT NULL,
    user_id        text NOT NULL,
    email          text NOT NULL DEFAULT '',
    recovery_hmac  text,
    updated_at     double precision NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX mfa_users_recovery ON mfa_users (recovery_hmac);

CREATE TABLE remembered_devices (
    token_hash  text PRIMARY KEY,
    tenant_id   text NOT NULL,
    user_id     text NOT NULL,
    expires_at  double precision NOT NULL,
    created_at  double precision NOT NULL
);
CREATE INDEX remembered_devices_user ON remembered_devices (tenant_id, user_id);

CREATE TABLE tenant_policies (
    tenant_id   text PRIMARY KEY,
    id          text NOT NULL,
    policy      text NOT NULL,                   -- JSON
    created_at  double precision NOT NULL,
    updated_at  double precision NOT NULL
);

CREATE TABLE audit_events (
    id          text PRIMARY KEY,
    at          double precision NOT NULL,
    tenant_id   text NOT NULL,
    user_id     text NOT NULL,
    factor      text NOT NULL,
    action      text NOT NULL,                   -- enroll | verify | failure | lockout | disable | recovery
    outcome     text NOT NULL,
    device_id   text,
    request_id  text,
    detail      text NOT NULL DEFAULT '{}'       -- JSON, never codes, secrets or tokens
);
CREATE INDEX audit_events_user ON audit_events (tenant_id, user_id, at);
