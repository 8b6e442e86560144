"""HTTP handlers of the SMS service: parse, call the core, dump."""

from __future__ import annotations

from aiohttp import web

from services.sms import factor, login, schemas
from services.sms.delivery import Requester, Sender
from services.sms.templates import pick_locale
from shared.client_ip import behind_gateway
from shared.schemas import Empty, LoginResponse, RecoveryCodeResponse
from shared.web import (
    api,
    json_ok,
    login_response,
    principal,
    read_body,
    read_json,
    stores_of,
)

SENDER = web.AppKey("sms_sender", Sender)



def client_ip(request: web.Request) -> str:
    """The client's address (shared.client_ip: the chain the gateway forwards, read from the
    right past MFA_TRUSTED_PROXIES)."""
    return behind_gateway(request.headers.get("X-Forwarded-For"), request.remote,
                          stores_of(request).settings.trusted_proxies)


def _who(request: web.Request) -> Requester:
    return Requester(ip=client_ip(request),
                     locale=pick_locale(request.headers.get("Accept-Language")))


@api(request=schemas.LoginPhone, response=schemas.CodeSent, auth="mfaToken")
async def login_enroll(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/sms/enroll {mfaToken, phoneNumber}."""
    body = await read_body(request)
    return json_ok(await login.login_enroll_start(
        stores_of(request), request.app[SENDER], _who(request), mfa_token=body["mfaToken"],
        phone_number=body["phoneNumber"]))


@api(request=schemas.LoginCode, response=LoginResponse, auth="mfaToken")
async def login_enroll_verify(request: web.Request) -> web.Response:
    """POST .../sms/enroll/verify {mfaToken, otcToken, code, rememberDevice?}."""
    body = await read_body(request)
    result = await login.login_enroll_verify(
        stores_of(request), mfa_token=body["mfaToken"], otc_token=body["otcToken"],
        code=body["code"], remember_device=body["rememberDevice"])
    return login_response(result, stores_of(request).settings)


@api(request=schemas.LoginDevice, response=schemas.CodeSent, auth="mfaToken")
async def login_send(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/sms/{deviceId} {mfaToken}."""
    body = await read_body(request)
    return json_ok(await login.login_verify_start(
        stores_of(request), request.app[SENDER], _who(request), mfa_token=body["mfaToken"],
        device_id=request.match_info["deviceId"]))


@api(request=schemas.LoginCode, response=LoginResponse, auth="mfaToken")
async def login_verify(request: web.Request) -> web.Response:
    """POST .../sms/{deviceId}/verify {mfaToken, otcToken, code, rememberDevice?}."""
    body = await read_body(request)
    result = await login.login_verify(
        stores_of(request), mfa_token=body["mfaToken"], device_id=request.match_info["deviceId"],
        otc_token=body["otcToken"], code=body["code"], remember_device=body["rememberDevice"])
    return login_response(result, stores_of(request).settings)


@api(request=schemas.UserPhone, response=schemas.CodeSent, auth="bearer")
async def enroll(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/sms/enroll {phoneNumber}."""
    p = principal(request)
    body = await read_body(request)
    return json_ok(await factor.enroll_start(stores_of(request), request.app[SENDER],
                                             _who(request), p, phone_number=body["phoneNumber"]))


@api(request=schemas.UserCode, response=RecoveryCodeResponse, auth="bearer")
async def enroll_verify(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/sms/enroll/verify {otcToken, code}."""
    p = principal(request)
    body = await read_body(request)
    return json_ok(await factor.enroll_verify(stores_of(request), p, otc_token=body["otcToken"],
                                              code=body["code"]))


@api(response=schemas.CodeSent, auth="bearer")
async def disable(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/sms/{deviceId}/disable (no body)."""
    p = principal(request)
    await read_json(request)
    return json_ok(await factor.disable_start(stores_of(request), request.app[SENDER],
                                              _who(request), p,
                                              device_id=request.match_info["deviceId"]))


@api(request=schemas.DisableCode, response=Empty, auth="bearer")
async def disable_verify(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/sms/{deviceId}/disable/verify {otcToken?, code?}."""
    p = principal(request)
    body = await read_body(request)
    await factor.disable_verify(stores_of(request), p, device_id=request.match_info["deviceId"],
                                otc_token=body["otcToken"], code=body["code"])
    return json_ok({})
