"""Request schemas of the totp service (marshmallow; unknown fields are ignored).

The code is `value` on /user/mfa/verify and authenticator/{id}/verify, and `token` everywhere
else (frontegg-contract.md section 10)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

_TOKEN = validate.Length(min=1, max=300)
_CODE = validate.Length(min=1, max=64)


class MfaToken(Schema):
    """Mid-login pre-enroll: {mfaToken}."""

    mfaToken = fields.String(required=True, validate=_TOKEN)


class LoginValue(MfaToken):
    """Mid-login verify: {mfaToken, value, rememberDevice?}."""

    value = fields.String(required=True, validate=_CODE)
    rememberDevice = fields.Boolean(load_default=False, allow_none=True)


class LoginToken(MfaToken):
    """Mid-login enrollment: {mfaToken, token, rememberDevice?}."""

    token = fields.String(required=True, validate=_CODE)
    rememberDevice = fields.Boolean(load_default=False, allow_none=True)


class UserToken(Schema):
    """Logged-in enroll/disable: {token} (a TOTP code, or on the deprecated disable the
    recovery code)."""

    token = fields.String(required=True, validate=_CODE)
