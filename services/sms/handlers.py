"""HTTP handlers of the SMS service: parse, call the core, dump."""

from __future__ import annotations

from aiohttp import web

from services.sms import login, profile, schemas
from services.sms.app import SENDER
from services.sms.credentials import KIND
from services.sms.delivery import Requester
from services.sms.templates import pick_locale
from shared.http import access
from shared.http.schemas import Empty, LoginResponse, RecoveryCodeResponse
from shared.http.web import api, client_ip, json_ok, login_response, read_body, stores_of


def _who(request: web.Request) -> Requester:
    return Requester(ip=client_ip(request),
                     locale=pick_locale(request.headers.get("Accept-Language")))


@api(request=schemas.LoginPhone, response=schemas.CodeSent, auth="mfaToken", lockout=KIND)
async def login_enroll(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/sms/enroll {mfaToken, phoneNumber}."""
    body = await read_body(request)
    return json_ok(await login.enroll_start(
        stores_of(request), request.app[SENDER], _who(request), session=access.session(request),
        phone_number=body["phoneNumber"]))


@api(request=schemas.LoginCode, response=LoginResponse, auth="mfaToken", attempt=KIND)
async def login_enroll_verify(request: web.Request) -> web.Response:
    """POST .../sms/enroll/verify {mfaToken, otcToken, code, rememberDevice?}."""
    body = await read_body(request)
    result = await login.enroll_verify(
        stores_of(request), attempt=access.attempt(request), otc_token=body["otcToken"],
        code=body["code"], remember_device=bool(body["rememberDevice"]))
    return login_response(result, stores_of(request).settings)


@api(request=schemas.LoginDevice, response=schemas.CodeSent, auth="mfaToken", lockout=KIND)
async def login_send(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/sms/{deviceId} {mfaToken}."""
    return json_ok(await login.verify_start(
        stores_of(request), request.app[SENDER], _who(request), session=access.session(request),
        device_id=request.match_info["deviceId"]))


@api(request=schemas.LoginCode, response=LoginResponse, auth="mfaToken", attempt=KIND)
async def login_verify(request: web.Request) -> web.Response:
    """POST .../sms/{deviceId}/verify {mfaToken, otcToken, code, rememberDevice?}."""
    body = await read_body(request)
    result = await login.verify(
        stores_of(request), attempt=access.attempt(request),
        device_id=request.match_info["deviceId"], otc_token=body["otcToken"], code=body["code"],
        remember_device=bool(body["rememberDevice"]))
    return login_response(result, stores_of(request).settings)


@api(request=schemas.UserPhone, response=schemas.CodeSent, auth="bearer", lockout=KIND)
async def enroll(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/sms/enroll {phoneNumber}."""
    body = await read_body(request)
    return json_ok(await profile.enroll_start(
        stores_of(request), request.app[SENDER], _who(request),
        principal=access.principal(request), phone_number=body["phoneNumber"]))


@api(request=schemas.UserCode, response=RecoveryCodeResponse, auth="bearer", attempt=KIND)
async def enroll_verify(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/sms/enroll/verify {otcToken, code}."""
    body = await read_body(request)
    return json_ok(await profile.enroll_verify(
        stores_of(request), attempt=access.attempt(request),
        email=access.principal(request).email, otc_token=body["otcToken"], code=body["code"]))


@api(request=Empty, response=schemas.CodeSent, auth="bearer", lockout=KIND)
async def disable(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/sms/{deviceId}/disable (no body)."""
    return json_ok(await profile.disable_start(
        stores_of(request), request.app[SENDER], _who(request),
        principal=access.principal(request), device_id=request.match_info["deviceId"]))


@api(request=schemas.DisableCode, response=Empty, auth="bearer", attempt=KIND)
async def disable_verify(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/sms/{deviceId}/disable/verify {otcToken?, code?}."""
    body = await read_body(request)
    await profile.disable_verify(
        stores_of(request), attempt=access.attempt(request), principal=access.principal(request),
        device_id=request.match_info["deviceId"], otc_token=body["otcToken"], code=body["code"])
    return json_ok({})
