"""HTTP handlers of the webauthn service: parse, call the core, dump."""

from __future__ import annotations

from aiohttp import web

from services.webauthn import demo, login, passkeys, profile, schemas
from services.webauthn.app import CONFIG
from services.webauthn.credentials import KIND
from shared.http import access
from shared.http.schemas import Empty, LoginResponse, RecoveryCodeResponse
from shared.http.web import SETTINGS, api, client_ip, json_ok, login_response, read_body, stores_of


def _device_id(request: web.Request) -> str:
    return request.match_info["deviceId"]


@api(request=schemas.MfaTokenBody, response=schemas.CreationOptions, auth="mfaToken")
async def login_pre_enroll(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/webauthn/enroll"""
    return json_ok(await login.pre_enroll(stores_of(request), request.app[CONFIG],
                                          session=access.session(request)))


@api(request=schemas.LoginEnroll, response=LoginResponse, auth="mfaToken", attempt=KIND)
async def login_enroll(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/webauthn/enroll/verify"""
    body = await read_body(request)
    result = await login.enroll(
        stores_of(request), request.app[CONFIG], attempt=access.attempt(request),
        webauthn_token=body["webauthnToken"], device_type=body["deviceType"],
        credential=body["options"], remember_device=bool(body["rememberDevice"]))
    return login_response(result, request.app[SETTINGS])


@api(request=schemas.MfaTokenBody, response=schemas.RequestOptions, auth="mfaToken",
     lockout=KIND)
async def login_pre_verify(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/webauthn/{deviceId}"""
    return json_ok(await login.pre_verify(stores_of(request), request.app[CONFIG],
                                          session=access.session(request),
                                          device_id=_device_id(request)))


@api(request=schemas.LoginVerify, response=LoginResponse, auth="mfaToken", attempt=KIND)
async def login_verify(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/webauthn/{deviceId}/verify"""
    body = await read_body(request)
    result = await login.verify(
        stores_of(request), request.app[CONFIG], attempt=access.attempt(request),
        device_id=_device_id(request), webauthn_token=body["webauthnToken"],
        credential=body["options"], remember_device=bool(body["rememberDevice"]))
    return login_response(result, request.app[SETTINGS])


@api(response=schemas.CreationOptions, auth="bearer")
async def user_pre_enroll(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/webauthn/enroll (no body)"""
    return json_ok(await profile.pre_enroll(stores_of(request), request.app[CONFIG],
                                            principal=access.principal(request)))


@api(request=schemas.UserEnroll, response=RecoveryCodeResponse, auth="bearer", attempt=KIND)
async def user_enroll(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/webauthn/enroll/verify"""
    body = await read_body(request)
    return json_ok(await profile.enroll(
        stores_of(request), request.app[CONFIG], attempt=access.attempt(request),
        principal=access.principal(request), webauthn_token=body["webauthnToken"],
        device_type=body["deviceType"], credential=body["options"]))


@api(response=schemas.RequestOptions, auth="bearer")
async def user_pre_disable(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/webauthn/{deviceId}/disable (no body)"""
    return json_ok(await profile.pre_disable(stores_of(request), request.app[CONFIG],
                                             principal=access.principal(request),
                                             device_id=_device_id(request)))


@api(request=schemas.UserAssertion, response=Empty, auth="bearer", attempt=KIND)
async def user_disable(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/webauthn/{deviceId}/disable/verify"""
    body = await read_body(request)
    await profile.disable(stores_of(request), request.app[CONFIG],
                          attempt=access.attempt(request), principal=access.principal(request),
                          device_id=_device_id(request), webauthn_token=body["webauthnToken"],
                          credential=body["options"])
    return json_ok({})


@api(request=schemas.PreLogin, response=schemas.PasskeyRequest)
async def passkey_prelogin(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/webauthn/prelogin: a discoverable login's options."""
    await read_body(request)  # validated, then not used: the credential names the user
    return json_ok(await passkeys.prelogin(stores_of(request), request.app[CONFIG],
                                           client_ip=client_ip(request)))


@api(request=schemas.AssertionCredential, response=LoginResponse)
async def passkey_postlogin(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/webauthn/postlogin: the assertion, at the top level."""
    result = await passkeys.postlogin(stores_of(request), request.app[CONFIG],
                                      credential=await read_body(request))
    return login_response(result, request.app[SETTINGS])


@api(response=schemas.PasskeyCreation, auth="bearer")
async def passkey_begin_registration(request: web.Request) -> web.Response:
    """POST /resources/users/webauthn/v1/devices (no body): creation options."""
    return json_ok(await passkeys.begin_registration(stores_of(request), request.app[CONFIG],
                                                     principal=access.principal(request)))


@api(request=schemas.PasskeyRegistration, response=Empty, auth="bearer")
async def passkey_finish_registration(request: web.Request) -> web.Response:
    """POST /resources/users/webauthn/v1/devices/verify"""
    body = await read_body(request)
    await passkeys.finish_registration(stores_of(request), request.app[CONFIG],
                                       principal=access.principal(request),
                                       credential=body["credential"],
                                       device_type=body["deviceType"])
    return json_ok({})


@api(response=schemas.Passkeys, auth="bearer")
async def passkey_list(request: web.Request) -> web.Response:
    """GET /resources/users/webauthn/v1/devices"""
    return json_ok(await passkeys.list_passkeys(stores_of(request),
                                                principal=access.principal(request)))


@api(response=Empty, auth="bearer")
async def passkey_delete(request: web.Request) -> web.Response:
    """DELETE /resources/users/webauthn/v1/devices/{deviceId}"""
    await passkeys.delete_passkey(stores_of(request), principal=access.principal(request),
                                  device_id=_device_id(request))
    return json_ok({})


@api(response=schemas.HtmlPage, media="text/html")
async def demo_page(request: web.Request) -> web.Response:
    """GET /mfa-demo/webauthn: a page that runs the ceremonies like Frontegg's login box."""
    return demo.page(request.app[CONFIG], request.app[SETTINGS].mount_prefix)


@api(response=schemas.HtmlPage, media="text/javascript")
async def demo_script(request: web.Request) -> web.Response:
    """GET /mfa-demo/webauthn/demo.js"""
    return demo.script(request.app[CONFIG])
