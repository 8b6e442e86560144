"""Request schemas of the session service (marshmallow; unknown fields are ignored)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from shared.policies import tenant_pattern
from shared.schemas import StrictBoolean
from shared.settings import ENFORCE_TYPES, STRATEGIES

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


def _regexp(value: str) -> None:
    """Only patterns the RE2 engine that will match them can compile (no ReDoS)."""
    try:
        tenant_pattern(value)
    except ValueError as e:
        raise ValidationError(str(e)) from None


class PolicyBody(Schema):
    """A tenant's MFA policy (POST replaces it, PATCH merges into it)."""

    enforceMFAType = fields.String(validate=validate.OneOf(ENFORCE_TYPES))
    strategies = fields.List(fields.String(validate=validate.OneOf(STRATEGIES)),
                             validate=validate.Length(max=len(STRATEGIES)))
    allowRememberMyDevice = StrictBoolean()
    mfaDeviceExpiration = fields.Integer(strict=True, validate=validate.Range(min=0))
    phoneNumberRegexp = fields.String(allow_none=True,
                                      validate=[validate.Length(max=200), _regexp])
    smsAllowedCountryCodes = fields.List(
        fields.String(validate=validate.Regexp(r"^[0-9]{1,4}$")), validate=validate.Length(max=300))
    userVerification = fields.String(validate=validate.OneOf(
        ("required", "preferred", "discouraged")))
    enrollRequiresMfaWithin = fields.Integer(strict=True,
                                             validate=validate.Range(min=0, max=86400))
    recoveryCodesRequireMfaWithin = fields.Integer(strict=True,
                                                   validate=validate.Range(min=60, max=86400))
    recoverKeepsDevices = StrictBoolean()
    notifyUsers = StrictBoolean()


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


class PolicyOut(Schema):
    """A tenant's effective policy: every field, always (the default's where not saved)."""

    id = fields.String(required=True, metadata={"description": "`default` until saved"})
    enforceMFAType = fields.String(required=True, validate=validate.OneOf(ENFORCE_TYPES))
    strategies = fields.List(fields.String(validate=validate.OneOf(STRATEGIES)), required=True)
    allowRememberMyDevice = StrictBoolean(required=True)
    mfaDeviceExpiration = fields.Integer(required=True, validate=validate.Range(min=0))
    phoneNumberRegexp = fields.String(required=True, allow_none=True)
    smsAllowedCountryCodes = fields.List(fields.String(), required=True)
    userVerification = fields.String(required=True, validate=validate.OneOf(
        ("required", "preferred", "discouraged")))
    enrollRequiresMfaWithin = fields.Integer(required=True, validate=validate.Range(min=0))
    recoveryCodesRequireMfaWithin = fields.Integer(required=True,
                                                   validate=validate.Range(min=60))
    recoverKeepsDevices = StrictBoolean(required=True)
    notifyUsers = fields.Boolean(required=True, metadata={
        "description": "email users about factor changes (with MFA_NOTIFICATIONS on)"})
    createdAt = fields.String(required=True, allow_none=True)
    updatedAt = fields.String(required=True, allow_none=True)


class Strategy(Schema):
    """One strategy and whether it is active."""

    strategy = fields.String(required=True, validate=validate.OneOf(STRATEGIES))
    isActive = StrictBoolean(required=True)


class Strategies(Schema):
    """GET mfa/strategies: every strategy, in a fixed order."""

    strategies = fields.List(fields.Nested(Strategy), required=True)


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


class LockoutBody(Schema):
    """Frontegg's lockout policy: both fields required."""

    enabled = StrictBoolean(required=True)
    maxAttempts = fields.Integer(required=True, strict=True,
                                 validate=validate.Range(min=1, max=1000))


class LockoutOut(Schema):
    """A stored lockout policy."""

    id = fields.String(required=True)
    enabled = StrictBoolean(required=True)
    maxAttempts = fields.Integer(required=True)
    createdAt = fields.String(required=True)
    updatedAt = fields.String(required=True)


class StrategyBody(Schema):
    """Switch one strategy on or off."""

    strategy = fields.String(required=True, validate=validate.OneOf(STRATEGIES))
    isActive = StrictBoolean(required=True)


_LIFETIME = validate.Range(min=300, max=3600)


class AppConfig(Schema):
    """The authenticator app: `serviceName` is the issuer shown in the app."""

    active = StrictBoolean(required=True)
    # The Key URI Format's issuer: no colon (it separates issuer and account in the label).
    serviceName = fields.String(required=True, validate=[
        validate.Length(min=1, max=64), validate.Regexp(r"^[^:\x00-\x1f\x7f]+$")])


class SmsConfig(Schema):
    """SMS codes: how long one lives."""

    active = StrictBoolean(required=True)
    tokenLifetimeSeconds = fields.Integer(required=True, strict=True, validate=_LIFETIME)


class EmailConfig(Schema):
    """Email codes: how long one lives, and the From address."""

    active = StrictBoolean(required=True)
    tokenLifetimeSeconds = fields.Integer(required=True, strict=True, validate=_LIFETIME)
    sender = fields.Email(required=True, validate=validate.Length(max=320))


class MfaConfigBody(Schema):
    """POST configurations/v1/mfa: any of the three sections; omitted ones keep their values."""

    authenticationApp = fields.Nested(AppConfig, load_default=None, allow_none=True)
    sms = fields.Nested(SmsConfig, load_default=None, allow_none=True)
    email = fields.Nested(EmailConfig, load_default=None, allow_none=True)


class EmailConfigOut(Schema):
    """Email codes as configured (the sender is empty until one is set)."""

    active = StrictBoolean(required=True)
    tokenLifetimeSeconds = fields.Integer(required=True)
    sender = fields.String(required=True)


class MfaConfigOut(Schema):
    """GET configurations/v1/mfa: every section, always."""

    authenticationApp = fields.Nested(AppConfig, required=True)
    sms = fields.Nested(SmsConfig, required=True)
    email = fields.Nested(EmailConfigOut, required=True)
