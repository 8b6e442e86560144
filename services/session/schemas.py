"""Request schemas of the session service (marshmallow; unknown fields are ignored)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from shared.http.schemas import StrictBoolean

_ID = validate.Length(min=1, max=200)


class StartSession(Schema):
    """The host's call after its password step."""

    userId = fields.String(required=True, validate=_ID)
    tenantId = fields.String(required=True, validate=_ID)
    email = fields.Email(required=True, validate=validate.Length(max=320))
    phoneNumber = fields.String(load_default=None, allow_none=True,
                                validate=validate.Length(max=32))
    rememberDeviceToken = fields.String(load_default=None, allow_none=True,
                                        validate=validate.Length(max=200))
    samlLogin = StrictBoolean(load_default=False)
    clientIp = fields.IP(load_default=None, allow_none=True, metadata={
        "description": "the browser's address: a remembered device's network is updated"})


class StepUp(Schema):
    """Step-up request."""

    maxAge = fields.Integer(strict=True, load_default=None, allow_none=True,
                            validate=validate.Range(min=0))


class Recover(Schema):
    """Recovery with the user's recovery code."""

    email = fields.Email(required=True, validate=validate.Length(max=320))
    recoveryCode = fields.String(required=True, validate=validate.Length(min=1, max=64))


class AllowRemember(Schema):
    """allow-remember-device answer."""

    isAllowedToRemember = StrictBoolean(required=True)
    mfaDeviceExpiration = fields.Integer(required=True)


class Jwk(Schema):
    """A public JSON Web Key (ours are Ed25519: kty OKP, crv Ed25519, x)."""

    kty = fields.String(required=True)
    kid = fields.String(required=True)
    use = fields.String()
    alg = fields.String()
    crv = fields.String()
    x = fields.String()
    y = fields.String()
    n = fields.String()
    e = fields.String()


class Jwks(Schema):
    """A JSON Web Key Set: the active key and the previous ones still trusted."""

    keys = fields.List(fields.Nested(Jwk), required=True)


class RecoveryCodeSet(Schema):
    """A new recovery-code set, shown once."""

    recoveryCodes = fields.List(fields.String(), required=True, metadata={
        "description": "10 single-use codes; the previous set no longer works"})


class RecoveryCodesLeft(Schema):
    """How many codes of the set are unused (never the codes)."""

    remaining = fields.Integer(required=True)
    total = fields.Integer(required=True)
    createdAt = fields.String(required=True, allow_none=True)


class RecoveryLogin(Schema):
    """Mid-login proof with a code of the set: {mfaToken, recoveryCode, rememberDevice?}."""

    mfaToken = fields.String(required=True, validate=validate.Length(min=1, max=300))
    recoveryCode = fields.String(required=True, validate=validate.Length(min=1, max=64))
    rememberDevice = StrictBoolean(load_default=False, allow_none=True)


def _printable(value: str) -> None:
    if not value.strip() or any(ord(ch) < 32 or 0x7f <= ord(ch) < 0xa0 for ch in value):
        raise ValidationError("A name needs a visible character and no control characters")


class RenameDevice(Schema):
    """A device's new name."""

    name = fields.String(required=True, validate=[validate.Length(min=1, max=64), _printable])


class RenamedDevice(Schema):
    """The device's id and its new name."""

    id = fields.String(required=True)
    name = fields.String(required=True)


class TrustedDevice(Schema):
    """A remembered browser."""

    id = fields.String(required=True)
    label = fields.String(required=True, metadata={"description": "from its User-Agent, "
                                                   "e.g. \"Chrome on macOS\""})
    network = fields.String(required=True, allow_none=True, metadata={
        "description": "the client address's /24 (IPv4) or /48 (IPv6) when last used"})
    createdAt = fields.String(required=True)
    lastUsedAt = fields.String(required=True)
    expiresAt = fields.String(required=True)


class TrustedDevices(Schema):
    """The user's remembered browsers, most recently used first."""

    devices = fields.List(fields.Nested(TrustedDevice), required=True)
