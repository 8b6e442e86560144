"""Request and response schemas of the vendor routes and the admin API (marshmallow)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from shared.lockout import FACTORS


def _reason() -> fields.String:
    return fields.String(validate=validate.Length(max=500), load_default=None, allow_none=True,
                         metadata={"description": "why (kept in the audit row)"})



class VendorBody(Schema):
    """A vendor call's body: Frontegg's optional `token` (not needed from a vendor) and our
    optional `reason`."""

    token = fields.String(load_default=None, allow_none=True,
                          validate=validate.Length(max=100))
    reason = _reason()


class Reason(Schema):
    """An operator's change: why."""

    reason = _reason()


class Unlock(Schema):
    """Unlock one factor kind, or all without `factor`."""

    factor = fields.String(load_default=None, allow_none=True,
                           validate=validate.OneOf(FACTORS))
    reason = _reason()


class Factor(Schema):
    """One enrolled factor."""

    kind = fields.String(required=True, validate=validate.OneOf(("totp", "sms", "webauthn")))
    id = fields.String(required=True)
    name = fields.String(required=True)
    createdAt = fields.String(required=True)
    lastUsedAt = fields.String(required=True, allow_none=True)
    locked = fields.Boolean(required=True)


class LockoutState(Schema):
    """One factor kind's lockout."""

    factor = fields.String(required=True, validate=validate.OneOf(FACTORS))
    failures = fields.Integer(required=True)
    locked = fields.Boolean(required=True)
    retryAfter = fields.Integer(required=True)


class Factors(Schema):
    """A user's factors and lockouts."""

    factors = fields.List(fields.Nested(Factor), required=True)
    lockouts = fields.List(fields.Nested(LockoutState), required=True)


class Removed(Schema):
    """How many factors a reset removed."""

    removed = fields.Integer(required=True)


class Unlocked(Schema):
    """The factor kinds that were delayed or locked."""

    wasLocked = fields.List(fields.String(), required=True)


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
