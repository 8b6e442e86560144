-- Operators: the outbox of security events (written with their audit rows) and the indexes
-- the admin API's audit queries use.

-- One row per audited event that matters outside (factor enrolled or removed, MFA reset,
-- recovery code used, factor locked, remembered devices revoked), inserted in the same
-- statement (Postgres) or transaction (SQLite) as its audit row, so none is lost.
-- seq: the delivery order on Postgres (bigserial); SQLite has no sequences and orders by
-- its rowid instead (the column stays NULL there).
CREATE TABLE outbox_events (
    seq              bigserial,
    id               text PRIMARY KEY,             -- the audit row's id: the event id
    at               double precision NOT NULL,
    tenant_id        text NOT NULL,
    user_id          text NOT NULL,
    type             text NOT NULL,                -- mfa.factor.enrolled, ...
    payload          text NOT NULL,                -- JSON, never codes, secrets or tokens
    attempts         integer NOT NULL DEFAULT 0,   -- webhook deliveries tried
    next_attempt_at  double precision NOT NULL DEFAULT 0,
    delivered_at     double precision,             -- every webhook endpoint answered 2xx
    notified_at      double precision,             -- the user's notification email is done
    last_error       text
);
CREATE INDEX outbox_events_pending ON outbox_events (delivered_at, next_attempt_at);
CREATE INDEX outbox_events_unnotified ON outbox_events (notified_at);

CREATE INDEX audit_events_tenant_at ON audit_events (tenant_id, at, id);
CREATE INDEX audit_events_at ON audit_events (at, id);

-- Frontegg's configuration documents beside the MFA policy: the lockout policy
-- (kind 'lockout': {enabled, maxAttempts}) and the MFA configuration (kind 'mfa':
-- authenticator serviceName, SMS/email code lifetimes, email sender). tenant_id '' is the
-- whole environment (a call without frontegg-tenant-id); a tenant's row overrides it.
CREATE TABLE mfa_configurations (
    tenant_id   text NOT NULL,
    kind        text NOT NULL,
    id          text NOT NULL,
    doc         text NOT NULL,
    created_at  double precision NOT NULL,
    updated_at  double precision NOT NULL,
    PRIMARY KEY (tenant_id, kind)
);
