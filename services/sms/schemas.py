"""Request schemas of the SMS service (marshmallow; unknown fields are ignored)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from shared.http.schemas import StrictBoolean

_TOKEN = validate.Length(min=1, max=200)
_CODE = validate.Length(min=1, max=32)


def _tidy_code(data: dict[str, Any]) -> dict[str, Any]:
    """People type codes with spaces or dashes; the code itself is the digits."""
    if data.get("code"):
        data["code"] = "".join(ch for ch in data["code"] if ch not in " -\t")
    return data


class LoginPhone(Schema):
    """Mid-login: a phone to enroll."""

    mfaToken = fields.String(required=True, validate=_TOKEN)
    phoneNumber = fields.String(required=True, validate=validate.Length(min=1, max=64))


class LoginDevice(Schema):
    """Mid-login: send a code to an enrolled phone."""

    mfaToken = fields.String(required=True, validate=_TOKEN)


class LoginCode(Schema):
    """Mid-login: the code that proves the phone."""

    mfaToken = fields.String(required=True, validate=_TOKEN)
    otcToken = fields.String(required=True, validate=_TOKEN)
    code = fields.String(required=True, validate=_CODE)
    rememberDevice = StrictBoolean(load_default=False, allow_none=True)

    @post_load
    def _tidy(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["rememberDevice"] = bool(data.get("rememberDevice"))
        return _tidy_code(data)


class UserPhone(Schema):
    """Profile page: a phone to enroll."""

    phoneNumber = fields.String(required=True, validate=validate.Length(min=1, max=64))


class UserCode(Schema):
    """Profile page: the enrollment code."""

    otcToken = fields.String(required=True, validate=_TOKEN)
    code = fields.String(required=True, validate=_CODE)

    @post_load
    def _tidy(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return _tidy_code(data)


class DisableCode(Schema):
    """Profile page: removal, with the code (both fields) or without (neither)."""

    otcToken = fields.String(load_default=None, allow_none=True, validate=_TOKEN)
    code = fields.String(load_default=None, allow_none=True, validate=_CODE)

    @validates_schema
    def _both_or_neither(self, data: dict[str, Any], **_: Any) -> None:
        if bool(data.get("otcToken")) != bool(data.get("code")):
            raise ValidationError("otcToken and code go together", "code")

    @post_load
    def _tidy(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return _tidy_code(data)


class CodeSent(Schema):
    """{otcToken, phoneNumber}: the number in full for its owner's enrollment, masked else."""

    otcToken = fields.String(required=True)
    phoneNumber = fields.String(required=True)
