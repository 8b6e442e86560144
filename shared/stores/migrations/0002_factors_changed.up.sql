-- When a user's factors were last changed by something other than the user's own logged-in
-- session (a recovery, an operator's reset): bearer tokens issued before it are refused.
ALTER TABLE mfa_users ADD COLUMN factors_changed_at double precision;
