"""Response schemas shared by every service (Frontegg's shapes), for OpenAPI and tests."""

from __future__ import annotations

from marshmallow import Schema, fields


class ErrorEnvelope(Schema):
    """Frontegg's error body."""

    errors = fields.List(fields.String(), required=True)
    errorCode = fields.String(required=True)
    context = fields.Dict()


class WebAuthnDevice(Schema):
    """A WebAuthn device in mfaDevices."""

    id = fields.String(required=True)
    deviceType = fields.String(required=True)
    name = fields.String(required=True)


class PhoneDevice(Schema):
    """A phone in mfaDevices (number masked)."""

    id = fields.String(required=True)
    phoneNumber = fields.String(required=True)


class AuthenticatorDevice(Schema):
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


class LoginResponse(Schema):
    """Frontegg's ILoginResponse as this service answers it."""

    mfaRequired = fields.Boolean(required=True)
    accessToken = fields.String()
    refreshToken = fields.String()
    exp = fields.Integer()
    expiresIn = fields.Integer()
    expires = fields.String()
    userId = fields.String()
    userEmail = fields.String()
    tenantId = fields.String()
    amr = fields.List(fields.String())
    acr = fields.String()
    auth_time = fields.Integer()
    recoveryCode = fields.String()
    mfaToken = fields.String()
    mfaEnrolled = fields.Boolean()
    mfaDevices = fields.Nested(MfaDevices)
    mfaStrategies = fields.List(fields.String())
    qrCode = fields.String()
    secret = fields.String()


class Empty(Schema):
    """An empty JSON object."""


class RecoveryCodeResponse(Schema):
    """{recoveryCode} on a first enrollment (else empty)."""

    recoveryCode = fields.String()
