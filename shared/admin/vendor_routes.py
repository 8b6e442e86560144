"""HTTP handlers of Frontegg's vendor routes for a user's MFA: parse, call shared.admin.vendor,
dump. The session service serves the vendor-only paths; the totp service serves the vendor
forms of /users/v1/mfa/disable and .../authenticator/{deviceId}/disable/verify."""

from __future__ import annotations

from aiohttp import web

from shared import access
from shared.admin import schemas, vendor
from shared.errors import BadRequest
from shared.schemas import Empty
from shared.web import api, json_ok, read_body, stores_of


def path_id(request: web.Request, name: str) -> str:
    """A user or device id from the path (400 when over 200 characters)."""
    value = request.match_info[name]
    if len(value) > 200:
        raise BadRequest(f"{name}: at most 200 characters", code="ER-MFA-VALIDATION")
    return value


@api(request=schemas.VendorBody, response=Empty, auth="vendor")
async def disable_mfa(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/disable from a vendor (frontegg-user-id): clear the
    user's MFA; 400 ER-01097 when none is enrolled."""
    body = await read_body(request)
    await vendor.disable_mfa(stores_of(request), access.vendor(request), body["reason"])
    return json_ok({})


@api(request=schemas.VendorBody, response=Empty, auth="vendor")
async def disable_device(request: web.Request) -> web.Response:
    """POST .../authenticator/{deviceId}/disable/verify from a vendor: remove that device."""
    body = await read_body(request)
    await vendor.disable_device(stores_of(request), access.vendor(request),
                                path_id(request, "deviceId"), body["reason"])
    return json_ok({})


@api(request=schemas.Reason, response=Empty, auth="vendor")
async def unenroll(request: web.Request) -> web.Response:
    """POST /resources/vendor-only/users/v1/{userId}/mfa/unenroll: every factor, every
    tenant."""
    body = await read_body(request)
    await vendor.unenroll(stores_of(request), access.vendor(request),
                          path_id(request, "userId"), body["reason"])
    return json_ok({})


@api(request=schemas.Reason, response=Empty, auth="vendor")
async def unlock(request: web.Request) -> web.Response:
    """POST /resources/users/v1/{userId}/unlock: lift the user's MFA lockouts."""
    body = await read_body(request)
    await vendor.unlock_user(stores_of(request), access.vendor(request),
                             path_id(request, "userId"), body["reason"])
    return json_ok({})
