-- Recovery-code sets: each code single use, stored as a peppered HMAC (never the code); a
-- used code's row is deleted. Beside mfa_users.recovery_hmac (Frontegg's one recoveryCode).
CREATE TABLE recovery_codes (
    code_hmac   text PRIMARY KEY,
    tenant_id   text NOT NULL,
    user_id     text NOT NULL,
    created_at  double precision NOT NULL
);
CREATE INDEX recovery_codes_user ON recovery_codes (tenant_id, user_id);

-- TOTP clock drift learned per device from accepted codes, in time steps (bounded).
ALTER TABLE mfa_devices ADD COLUMN drift integer NOT NULL DEFAULT 0;
