"""Request schemas of the totp service (marshmallow; unknown fields are ignored).

The code is `value` on /user/mfa/verify and authenticator/{id}/verify, and `token` everywhere
else (docs/frontegg-contract.md section 10)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.http.schemas import StrictBoolean

_TOKEN = validate.Length(min=1, max=300)
_CODE = validate.Length(min=1, max=64)


class MfaToken(Schema):
    """Mid-login pre-enroll: {mfaToken}."""

    mfaToken = fields.String(required=True, validate=_TOKEN)


class LoginValue(MfaToken):
    """Mid-login verify: {mfaToken, value, rememberDevice?}."""

    value = fields.String(required=True, validate=_CODE)
    rememberDevice = StrictBoolean(load_default=False, allow_none=True)


class LoginToken(MfaToken):
    """Mid-login enrollment: {mfaToken, token, rememberDevice?}."""

    token = fields.String(required=True, validate=_CODE)
    rememberDevice = StrictBoolean(load_default=False, allow_none=True)


class UserToken(Schema):
    """Logged-in enroll/disable: {token} (a TOTP code, or on the deprecated disable the
    recovery code)."""

    token = fields.String(required=True, validate=_CODE)


class Enrollment(Schema):
    """What the authenticator app scans or the user types: {qrCode, secret}."""

    qrCode = fields.String(required=True, metadata={
        "description": "data:image/png;base64 QR code of the otpauth://totp/ URI"})
    secret = fields.String(required=True, metadata={"description": "the same seed, base32"})


class Enrolled(Schema):
    """A logged-in enrollment: the recovery code on the user's first factor, else {}."""

    recoveryCode = fields.String()
