"""Request and response schemas of the operators service: the vendor routes, the
configuration documents and the admin API (marshmallow)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from shared.http.schemas import StrictBoolean, reason_field
from shared.mfa.policies import tenant_pattern
from shared.mfa.registry import LISTED, LOCKOUT_FACTORS, STORED, STRATEGIES
from shared.settings import ENFORCE_TYPES


class Unlock(Schema):
    """Unlock one factor kind, or all without `factor`."""

    factor = fields.String(load_default=None, allow_none=True,
                           validate=validate.OneOf(LOCKOUT_FACTORS))
    reason = reason_field()


class Factor(Schema):
    """One enrolled factor."""

    kind = fields.String(required=True, validate=validate.OneOf(STORED))
    id = fields.String(required=True)
    name = fields.String(required=True)
    createdAt = fields.String(required=True)
    lastUsedAt = fields.String(required=True, allow_none=True)
    locked = fields.Boolean(required=True)


class LockoutState(Schema):
    """One factor kind's lockout."""

    factor = fields.String(required=True, validate=validate.OneOf(LOCKOUT_FACTORS))
    failures = fields.Integer(required=True)
    locked = fields.Boolean(required=True)
    retryAfter = fields.Integer(required=True)


class Credentials(Schema):
    """How many credentials of one listed kind the user holds."""

    kind = fields.String(required=True, validate=validate.OneOf(LISTED))
    count = fields.Integer(required=True)


class Factors(Schema):
    """A user's factors (every stored credential, passkeys too), the count of every kind the
    registry lists (recovery codes and remembered browsers too), and the lockouts."""

    factors = fields.List(fields.Nested(Factor), required=True)
    credentials = fields.List(fields.Nested(Credentials), required=True)
    lockouts = fields.List(fields.Nested(LockoutState), required=True)


class Removed(Schema):
    """What a reset removed: devices and passkeys, and the count of every kind."""

    removed = fields.Integer(required=True)
    credentials = fields.Dict(keys=fields.String(validate=validate.OneOf(LISTED)),
                              values=fields.Integer(), required=True)


class Unlocked(Schema):
    """The factor kinds that were delayed or locked."""

    wasLocked = fields.List(fields.String(), required=True)


class ImportBody(Schema):
    """One user's enrollments in the native import format (docs/operators.md), without the
    ids the path names; every entry is checked by the import itself."""

    email = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=320))
    totp = fields.List(fields.Dict(), load_default=list)
    hotp = fields.List(fields.Dict(), load_default=list)
    phones = fields.List(fields.String(), load_default=list)
    webauthn = fields.List(fields.Dict(), load_default=list)


class ImportResult(Schema):
    """Devices an import added, and those already there (the same import again adds none)."""

    added = fields.Integer(required=True)
    existing = fields.Integer(required=True)


_CODE = fields.String(validate=validate.Regexp(r"^[0-9]{6,8}$", error="6 or 8 digits"))


class Resync(Schema):
    """Two consecutive codes of an HOTP token (its button pressed twice)."""

    codes = fields.List(_CODE, required=True, validate=validate.Length(equal=2))
    reason = reason_field()


class Resynced(Schema):
    """The counter of the token's next code."""

    counter = fields.Integer(required=True)


class Instant(fields.Field):
    """A time as ISO 8601 (with a zone) or Unix seconds; loaded as Unix seconds."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError("an ISO 8601 time or Unix seconds") from None
        if parsed.tzinfo is None:
            raise ValidationError("the time needs a zone (e.g. Z)")
        return parsed.timestamp()


_ID = validate.Length(min=1, max=200)


class AuditQuery(Schema):
    """Filters of the audit trail (query string)."""

    tenantId = fields.String(load_default=None, validate=_ID)
    userId = fields.String(load_default=None, validate=_ID)
    factor = fields.String(load_default=None, validate=_ID)
    action = fields.String(load_default=None, validate=_ID)
    from_ = Instant(data_key="from", load_default=None)
    to = Instant(load_default=None)
    cursor = fields.String(load_default=None, validate=validate.Length(max=400))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class Period(Schema):
    """A time range (query string); default: the last 30 days."""

    from_ = Instant(data_key="from", load_default=None)
    to = Instant(load_default=None)


class AuditEventOut(Schema):
    """One audit row."""

    id = fields.String(required=True)
    at = fields.String(required=True)
    tenantId = fields.String(required=True)
    userId = fields.String(required=True)
    factor = fields.String(required=True)
    action = fields.String(required=True)
    outcome = fields.String(required=True)
    deviceId = fields.String(required=True, allow_none=True)
    requestId = fields.String(required=True, allow_none=True)
    detail = fields.Dict(required=True)
    clientIp = fields.String(required=True, allow_none=True)
    userAgent = fields.String(required=True, allow_none=True)
    traceId = fields.String(required=True, allow_none=True)
    lockThreshold = fields.Integer(required=True, allow_none=True)
    count = fields.Integer(required=True)
    lastAt = fields.String(required=True, allow_none=True)


class LockoutQuery(Schema):
    """Which factor, and from when the timeline starts (query string)."""

    factor = fields.String(load_default=None, validate=validate.OneOf(LOCKOUT_FACTORS))
    from_ = Instant(data_key="from", load_default=None)


class FactorLockout(Schema):
    """One factor's lockout now: consecutive failures, locked or delayed, the threshold that
    locks it, and when and how it lifts."""

    factor = fields.String(required=True)
    failures = fields.Integer(required=True)
    locked = fields.Boolean(required=True)
    retryAfter = fields.Integer(required=True)
    threshold = fields.Integer(required=True)
    liftsAt = fields.String(required=True, allow_none=True)
    lifts = fields.String(required=True)


class LockoutExplanation(Schema):
    """Why a user is locked out: each factor's state and the attempts (oldest first)."""

    tenantId = fields.String(required=True)
    userId = fields.String(required=True)
    at = fields.String(required=True)
    factors = fields.List(fields.Nested(FactorLockout), required=True)
    timeline = fields.List(fields.Nested(AuditEventOut), required=True)
    truncated = fields.Boolean(required=True)


class AuditPage(Schema):
    """One page of the audit trail, and where the next one starts (null at the end)."""

    events = fields.List(fields.Nested(AuditEventOut), required=True)
    nextCursor = fields.String(required=True, allow_none=True)


class Adoption(Schema):
    """A tenant's MFA adoption."""

    tenantId = fields.String(required=True)
    usersKnown = fields.Integer(required=True, metadata={
        "description": "users who started an MFA session"})
    usersEnrolled = fields.Integer(required=True)
    enrolledByFactor = fields.Dict(keys=fields.String(), values=fields.Integer(),
                                   required=True)
    lockouts = fields.Integer(required=True)
    codesSent = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    from_ = fields.String(data_key="from", required=True)
    to = fields.String(required=True)


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
    passkeysRequireMfaWithin = fields.Integer(strict=True,
                                              validate=validate.Range(min=60, max=86400))
    recoverKeepsDevices = StrictBoolean()
    notifyUsers = StrictBoolean()


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
    passkeysRequireMfaWithin = fields.Integer(required=True, validate=validate.Range(min=60))
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


class AppSection(Schema):
    """The authenticator app: `serviceName` is the issuer shown in the app."""

    active = StrictBoolean(required=True)
    # The Key URI Format's issuer: no colon (it separates issuer and account in the label).
    serviceName = fields.String(required=True, validate=[
        validate.Length(min=1, max=64), validate.Regexp(r"^[^:\x00-\x1f\x7f]+$")])


class SmsSection(Schema):
    """SMS codes: how long one lives."""

    active = StrictBoolean(required=True)
    tokenLifetimeSeconds = fields.Integer(required=True, strict=True, validate=_LIFETIME)


class EmailSection(Schema):
    """Email codes: how long one lives, and the From address."""

    active = StrictBoolean(required=True)
    tokenLifetimeSeconds = fields.Integer(required=True, strict=True, validate=_LIFETIME)
    sender = fields.Email(required=True, validate=validate.Length(max=320))


class MfaConfigBody(Schema):
    """POST configurations/v1/mfa: any of the three sections; omitted ones keep their values."""

    authenticationApp = fields.Nested(AppSection, load_default=None, allow_none=True)
    sms = fields.Nested(SmsSection, load_default=None, allow_none=True)
    email = fields.Nested(EmailSection, load_default=None, allow_none=True)


class EmailSectionOut(Schema):
    """Email codes as configured (the sender is empty until one is set)."""

    active = StrictBoolean(required=True)
    tokenLifetimeSeconds = fields.Integer(required=True)
    sender = fields.String(required=True)


class MfaConfigOut(Schema):
    """GET configurations/v1/mfa: every section, always."""

    authenticationApp = fields.Nested(AppSection, required=True)
    sms = fields.Nested(SmsSection, required=True)
    email = fields.Nested(EmailSectionOut, required=True)
