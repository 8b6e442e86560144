"""Request and response schemas of the vendor routes and the admin API (marshmallow)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

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
