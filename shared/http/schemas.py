"""Schemas more than one service uses: Frontegg's response shapes (for OpenAPI and tests) and
the vendor routes' request bodies (totp and operators)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate


class ErrorEnvelope(Schema):
    """Frontegg's error body."""

    errors = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    errorCode = fields.String(required=True, validate=validate.Regexp(r"^ER-[A-Z0-9-]+$"))
    context = fields.Dict(metadata={"description": "e.g. {retryAfter} on a 429"})


class _Described(Schema):
    """Our fields beside Frontegg's, only in GET /users/v1/mfa/devices (the client ignores
    them): the user-editable name and the times."""

    name = fields.String(metadata={"description": "user-editable (PATCH .../devices/{id})"})
    createdAt = fields.String(metadata={"description": "ISO 8601 UTC"})
    lastUsedAt = fields.String(allow_none=True, metadata={
        "description": "ISO 8601 UTC of the last accepted proof; null if never used"})


class WebAuthnDevice(_Described):
    """A WebAuthn device in mfaDevices."""

    id = fields.String(required=True)
    deviceType = fields.String(required=True,
                               validate=validate.OneOf(("Platform", "CrossPlatform")))
    name = fields.String(required=True)


class PhoneDevice(_Described):
    """A phone in mfaDevices (number masked)."""

    id = fields.String(required=True)
    phoneNumber = fields.String(required=True)


class AuthenticatorDevice(_Described):
    """An authenticator app in mfaDevices."""

    id = fields.String(required=True)


class EmailDevice(Schema):
    """An email in mfaDevices."""

    email = fields.String(required=True)


class MfaDevices(Schema):
    """The four arrays, always all present."""

    webauthn = fields.List(fields.Nested(WebAuthnDevice), required=True)
    phones = fields.List(fields.Nested(PhoneDevice), required=True)
    authenticators = fields.List(fields.Nested(AuthenticatorDevice), required=True)
    emails = fields.List(fields.Nested(EmailDevice), required=True)


_LOGIN = ("mfaRequired", "accessToken", "refreshToken", "exp", "expiresIn", "expires", "userId",
          "userEmail", "tenantId", "amr", "auth_time")
_MFA_STEP = ("mfaToken", "mfaEnrolled", "mfaDevices")


class LoginResponse(Schema):
    """Frontegg's ILoginResponse as this service answers it: a completed login (a signed
    accessToken, mfaRequired false) or an MFA step (mfaToken, mfaEnrolled, mfaDevices; the
    step-up answer, and the host's session start); JSON_SCHEMA_RULES says which fields each
    form must have."""

    mfaRequired = fields.Boolean(metadata={"description": "false on a login; true (or absent "
                                           "on step-up) while MFA is pending"})
    accessToken = fields.String(metadata={"description": "a signed JWT (EdDSA)"})
    refreshToken = fields.String(metadata={"description": "always empty: refresh stays with "
                                           "the host's identity provider"})
    exp = fields.Integer(metadata={"description": "expiry, Unix seconds"})
    expiresIn = fields.Integer(metadata={"description": "seconds until exp"})
    expires = fields.String(metadata={"description": "exp as an ISO 8601 UTC timestamp"})
    userId = fields.String()
    userEmail = fields.String()
    tenantId = fields.String()
    amr = fields.List(fields.String())
    acr = fields.String()
    auth_time = fields.Integer()
    recoveryCode = fields.String(metadata={"description": "shown once, on a first enrollment"})
    mfaToken = fields.String()
    mfaEnrolled = fields.Boolean()
    mfaDevices = fields.Nested(MfaDevices)
    mfaStrategies = fields.List(fields.String())
    rememberDeviceToken = fields.String(metadata={
        "description": "session start only: the remembered device's rotated token, for the "
                       "host to set as the cookie (the one it sent no longer works)"})
    rememberDeviceMaxAge = fields.Integer(metadata={
        "description": "seconds the rotated token lives (the device's expiry is unchanged)"})
    qrCode = fields.String(metadata={"description": "forced enrollment: the authenticator QR"})
    secret = fields.String(metadata={"description": "forced enrollment: the seed, base32"})


class Empty(Schema):
    """An empty JSON object."""


class RecoveryCodeResponse(Schema):
    """{recoveryCode} on a first enrollment (else empty)."""

    recoveryCode = fields.String()


# Schema-level JSON Schema a marshmallow class cannot express, merged into the OpenAPI
# component of the same name: which fields each form of a login response carries.
JSON_SCHEMA_RULES: dict[str, dict[str, Any]] = {
    "LoginResponse": {"oneOf": [
        {"title": "login", "required": list(_LOGIN), "not": {"required": ["mfaToken"]},
         "properties": {"mfaRequired": {"const": False}}},
        {"title": "MFA step", "required": list(_MFA_STEP), "not": {"required": ["accessToken"]},
         "properties": {"mfaRequired": {"const": True}}},
    ]},
}


class StrictBoolean(fields.Boolean):
    """A JSON true or false only (marshmallow's Boolean also takes "yes", 1, "on")."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def reason_field() -> fields.String:
    """An operator's optional reason, kept in the audit row."""
    return fields.String(validate=validate.Length(max=500), load_default=None, allow_none=True,
                         metadata={"description": "why (kept in the audit row)"})


class VendorBody(Schema):
    """A vendor call's body: Frontegg's optional `token` (not needed from a vendor) and our
    optional `reason`."""

    token = fields.String(load_default=None, allow_none=True,
                          validate=validate.Length(max=100))
    reason = reason_field()


class Reason(Schema):
    """An operator's change: why."""

    reason = reason_field()
