"""HTTP handlers of the totp service: parse, call the core, dump."""

from __future__ import annotations

from aiohttp import web

from services.totp import factor, profile, schemas
from services.totp.config import TotpConfig
from shared.flow import require_session
from shared.schemas import Empty, LoginResponse
from shared.web import api, json_ok, login_response, principal, read_body, stores_of

CONFIG = web.AppKey("totp_config", TotpConfig)


@api(request=schemas.MfaToken, response=schemas.Enrollment, auth="mfaToken")
async def auth_pre_enroll(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/authenticator/enroll {mfaToken} -> {qrCode, secret}."""
    body = await read_body(request)
    stores = stores_of(request)
    session = await require_session(stores, body["mfaToken"])
    return json_ok(await factor.pre_enroll(stores, request.app[CONFIG], session))


@api(request=schemas.LoginToken, response=LoginResponse, auth="mfaToken")
async def auth_enroll(request: web.Request) -> web.Response:
    """POST .../authenticator/enroll/verify {mfaToken, token} -> login response."""
    body = await read_body(request)
    stores = stores_of(request)
    session = await require_session(stores, body["mfaToken"])
    result = await factor.enroll(stores, request.app[CONFIG], session, body["token"],
                                 remember=bool(body["rememberDevice"]))
    return login_response(result, stores.settings)


@api(request=schemas.LoginValue, response=LoginResponse, auth="mfaToken")
async def auth_verify(request: web.Request) -> web.Response:
    """POST .../authenticator/{deviceId}/verify and the deprecated /user/mfa/verify
    {mfaToken, value} -> login response."""
    body = await read_body(request)
    stores = stores_of(request)
    session = await require_session(stores, body["mfaToken"])
    result = await factor.verify(stores, request.app[CONFIG], session, body["value"],
                                 remember=bool(body["rememberDevice"]),
                                 device_id=request.match_info.get("deviceId"))
    return login_response(result, stores.settings)


@api(response=schemas.Enrollment, auth="bearer")
async def user_pre_enroll(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/authenticator/enroll and /users/v1/mfa/enroll (no body)."""
    p = principal(request)
    return json_ok(await profile.pre_enroll(stores_of(request), request.app[CONFIG], p))


@api(request=schemas.UserToken, response=schemas.Enrolled, auth="bearer")
async def user_enroll(request: web.Request) -> web.Response:
    """POST .../authenticator/enroll/verify and /users/v1/mfa/enroll/verify {token}."""
    p = principal(request)
    body = await read_body(request)
    return json_ok(await profile.enroll(stores_of(request), request.app[CONFIG], p,
                                        body["token"]))


@api(request=schemas.UserToken, response=Empty, auth="bearer")
async def user_disable_device(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/authenticator/{deviceId}/disable/verify {token}."""
    p = principal(request)
    body = await read_body(request)
    await profile.disable_device(stores_of(request), request.app[CONFIG], p,
                                 request.match_info["deviceId"], body["token"])
    return json_ok({})


@api(request=schemas.UserToken, response=Empty, auth="bearer")
async def user_disable(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/disable {token}: a TOTP code or the recovery code."""
    p = principal(request)
    body = await read_body(request)
    await profile.disable_any(stores_of(request), request.app[CONFIG], p, body["token"])
    return json_ok({})
