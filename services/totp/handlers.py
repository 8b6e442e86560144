"""HTTP handlers of the totp service: parse, call the core, dump."""

from __future__ import annotations

from aiohttp import web

from services.totp import login, profile, schemas
from services.totp.app import CONFIG
from services.totp.credentials import KIND
from shared.http import access
from shared.http.schemas import Empty, LoginResponse, VendorBody
from shared.http.web import api, json_ok, login_response, path_id, read_body, stores_of
from shared.mfa import vendor


# The vendor forms of the user's disable routes (same paths; shared.http.access picks the
# handler by the credential presented).
@api(request=VendorBody, response=Empty, auth="vendor")
async def disable_mfa(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/disable from a vendor (frontegg-user-id): clear the
    user's MFA; 400 ER-01097 when none is enrolled."""
    body = await read_body(request)
    await vendor.disable_mfa(stores_of(request), access.vendor(request), body["reason"])
    return json_ok({})


@api(request=VendorBody, response=Empty, auth="vendor")
async def disable_device(request: web.Request) -> web.Response:
    """POST .../authenticator/{deviceId}/disable/verify from a vendor: remove that device."""
    body = await read_body(request)
    await vendor.disable_device(stores_of(request), access.vendor(request),
                                path_id(request, "deviceId"), body["reason"])
    return json_ok({})


@api(request=schemas.MfaToken, response=schemas.Enrollment, auth="mfaToken")
async def auth_pre_enroll(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/authenticator/enroll {mfaToken} -> {qrCode, secret}."""
    return json_ok(await login.pre_enroll(stores_of(request), request.app[CONFIG],
                                          session=access.session(request)))


@api(request=schemas.LoginToken, response=LoginResponse, auth="mfaToken", attempt=KIND)
async def auth_enroll(request: web.Request) -> web.Response:
    """POST .../authenticator/enroll/verify {mfaToken, token} -> login response."""
    body = await read_body(request)
    stores = stores_of(request)
    result = await login.enroll(stores, request.app[CONFIG], attempt=access.attempt(request),
                                code=body["token"], remember=bool(body["rememberDevice"]))
    return login_response(result, stores.settings)


@api(request=schemas.LoginValue, response=LoginResponse, auth="mfaToken", attempt=KIND)
async def auth_verify(request: web.Request) -> web.Response:
    """POST .../authenticator/{deviceId}/verify and the deprecated /user/mfa/verify
    {mfaToken, value} -> login response."""
    body = await read_body(request)
    stores = stores_of(request)
    result = await login.verify(stores, request.app[CONFIG], attempt=access.attempt(request),
                                code=body["value"], remember=bool(body["rememberDevice"]),
                                device_id=request.match_info.get("deviceId"))
    return login_response(result, stores.settings)


@api(response=schemas.Enrollment, auth="bearer")
async def user_pre_enroll(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/authenticator/enroll and /users/v1/mfa/enroll (no body)."""
    return json_ok(await profile.pre_enroll(stores_of(request), request.app[CONFIG],
                                            principal=access.principal(request)))


@api(request=schemas.UserToken, response=schemas.Enrolled, auth="bearer", attempt=KIND)
async def user_enroll(request: web.Request) -> web.Response:
    """POST .../authenticator/enroll/verify and /users/v1/mfa/enroll/verify {token}."""
    body = await read_body(request)
    done = await profile.enroll(stores_of(request), request.app[CONFIG],
                                attempt=access.attempt(request),
                                email=access.principal(request).email, code=body["token"])
    return json_ok(done)


@api(request=schemas.UserToken, response=Empty, auth="bearer", attempt=KIND,
     vendor=disable_device)
async def user_disable_device(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/authenticator/{deviceId}/disable/verify {token}."""
    body = await read_body(request)
    await profile.disable_device(stores_of(request), request.app[CONFIG],
                                 attempt=access.attempt(request),
                                 device_id=request.match_info["deviceId"], code=body["token"])
    return json_ok({})


@api(request=schemas.UserToken, response=Empty, auth="bearer", attempt=KIND,
     vendor=disable_mfa)
async def user_disable(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/disable {token}: a TOTP code or the recovery code."""
    body = await read_body(request)
    await profile.disable_any(stores_of(request), request.app[CONFIG],
                              attempt=access.attempt(request), token=body["token"])
    return json_ok({})
