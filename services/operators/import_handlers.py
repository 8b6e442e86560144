"""HTTP handlers of Frontegg's migration routes (the MFA fields; vendor credential): parse,
call services.operators.importing, dump. Served by the operators service."""

from __future__ import annotations

from aiohttp import web
from marshmallow import EXCLUDE, Schema, fields, validate

from services.operators import importing
from shared.http import access
from shared.http.schemas import StrictBoolean
from shared.http.web import api, json_ok, path_id, read_body, stores_of


class MigrateUser(Schema):
    """MigrateUserRequestV1's fields this service reads (the rest, a password hash
    included, is ignored); `userId` is ours: the host's id of the user."""

    class Meta:
        unknown = EXCLUDE

    tenantId = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(required=True, validate=validate.Length(max=320))
    userId = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(min=1, max=200))
    authenticatorAppMfaSecret = fields.String(load_default=None, allow_none=True,
                                              validate=validate.Length(max=256))
    phoneNumber = fields.String(load_default=None, allow_none=True,
                                validate=validate.Length(max=32))
    phoneNumberType = fields.String(load_default=None, allow_none=True,
                                    validate=validate.OneOf(("auth", "mfa")))
    force = StrictBoolean(load_default=False, metadata={
        "description": "ours: add to a user who already has MFA, as an enrollment would "
                       "(without it such a user is refused with 409 ER-MFA-ALREADY-ENROLLED)"})


class Bulk(Schema):
    """{users: [MigrateUserRequest]}: each user is checked on its own (the status lists the
    ones that failed)."""

    # At most BULK_MAX, checked by the core: a maxItems here would invite bodies far over
    # MFA_MAX_BODY_BYTES, which answer 413 before any validation.
    users = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1))


class UserDto(Schema):
    """Frontegg's UserDto, the fields this service knows."""

    id = fields.String(required=True)
    email = fields.String(required=True)
    tenantId = fields.String(required=True)
    mfaEnrolled = fields.Boolean(required=True)
    phoneNumber = fields.String(metadata={"description": "masked"})


class MigrationStarted(Schema):
    """202 {migrationId}."""

    migrationId = fields.String(required=True)


class MigrationError(Schema):
    """One user that was not migrated: its index in `users`, and why."""

    index = fields.Integer(required=True)
    error = fields.String(required=True)


class MigrationStatus(Schema):
    """A bulk migration's outcome (it runs to the end before the 202)."""

    migrationId = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(("completed",)))
    total = fields.Integer(required=True)
    migrated = fields.Integer(required=True)
    errors = fields.List(fields.Nested(MigrationError), required=True)


@api(request=MigrateUser, response=UserDto, auth="vendor", status=201)
async def migrate_user(request: web.Request) -> web.Response:
    """POST /resources/migrations/v1/local"""
    caller = access.vendor(request)
    return json_ok(await importing.migrate_user(stores_of(request), await read_body(request),
                                                actor=caller.actor, scope=caller.scope),
                   status=201)


@api(request=Bulk, response=MigrationStarted, auth="vendor", status=202)
async def migrate_bulk(request: web.Request) -> web.Response:
    """POST /resources/migrations/v1/local/bulk and /v2/local/bulk (V2: `emails`)."""
    caller = access.vendor(request)
    body = await read_body(request)
    migration_id = await importing.migrate_bulk(stores_of(request), body["users"],
                                                actor=caller.actor, scope=caller.scope)
    return json_ok({"migrationId": migration_id}, status=202)


@api(response=MigrationStatus, auth="vendor")
async def migration_status(request: web.Request) -> web.Response:
    """GET /resources/migrations/v1/local/bulk/status/{migrationId}"""
    return json_ok(await importing.migration_status(
        stores_of(request), path_id(request, "migrationId"),
        scope=access.vendor(request).scope))
