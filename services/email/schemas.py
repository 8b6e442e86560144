"""Request schemas of the email service (marshmallow; unknown fields are ignored)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.http.schemas import StrictBoolean

_TOKEN = validate.Length(min=1, max=200)


class SendCode(Schema):
    """POST .../mfa/emailcode: {mfaToken}."""

    mfaToken = fields.String(required=True, validate=_TOKEN)


class VerifyCode(SendCode):
    """POST .../mfa/emailcode/verify: {mfaToken, otcToken, code, rememberDevice?}."""

    otcToken = fields.String(required=True, validate=_TOKEN)
    code = fields.String(required=True, validate=validate.Regexp(
        r"^[0-9]{1,16}$", error="The code is made of digits"))
    rememberDevice = StrictBoolean(load_default=False, allow_none=True)


class EmailCodeSent(Schema):
    """The answer to a send: the otcToken to post back with the code."""

    otcToken = fields.String(required=True)
