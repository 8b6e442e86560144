"""HTTP handlers of the webauthn service: parse, call the core, dump."""

from __future__ import annotations

from aiohttp import web

from services.webauthn import demo, factor, schemas
from services.webauthn.config import WebAuthnConfig
from shared.schemas import Empty, LoginResponse, RecoveryCodeResponse
from shared.web import SETTINGS, api, json_ok, login_response, principal, read_body, stores_of

CONFIG = web.AppKey("webauthn_config", WebAuthnConfig)



def _device_id(request: web.Request) -> str:
    return request.match_info["deviceId"]


@api(request=schemas.MfaTokenBody, response=schemas.CreationOptions, auth="mfaToken")
async def login_pre_enroll(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/webauthn/enroll"""
    body = await read_body(request)
    return json_ok(await factor.login_pre_enroll(stores_of(request), request.app[CONFIG],
                                                 body["mfaToken"]))


@api(request=schemas.LoginEnroll, response=LoginResponse, auth="mfaToken")
async def login_enroll(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/webauthn/enroll/verify"""
    body = await read_body(request)
    result = await factor.login_enroll(stores_of(request), request.app[CONFIG], body)
    return login_response(result, request.app[SETTINGS])


@api(request=schemas.MfaTokenBody, response=schemas.RequestOptions, auth="mfaToken")
async def login_pre_verify(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/webauthn/{deviceId}"""
    body = await read_body(request)
    return json_ok(await factor.login_pre_verify(stores_of(request), request.app[CONFIG],
                                                 body["mfaToken"], _device_id(request)))


@api(request=schemas.LoginVerify, response=LoginResponse, auth="mfaToken")
async def login_verify(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/webauthn/{deviceId}/verify"""
    body = await read_body(request)
    result = await factor.login_verify(stores_of(request), request.app[CONFIG],
                                       _device_id(request), body)
    return login_response(result, request.app[SETTINGS])


@api(response=schemas.CreationOptions, auth="bearer")
async def user_pre_enroll(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/webauthn/enroll (no body)"""
    p = principal(request)
    return json_ok(await factor.user_pre_enroll(stores_of(request), request.app[CONFIG], p))


@api(request=schemas.UserEnroll, response=RecoveryCodeResponse, auth="bearer")
async def user_enroll(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/webauthn/enroll/verify"""
    p = principal(request)
    body = await read_body(request)
    return json_ok(await factor.user_enroll(stores_of(request), request.app[CONFIG], p, body))


@api(response=schemas.RequestOptions, auth="bearer")
async def user_pre_disable(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/webauthn/{deviceId}/disable (no body)"""
    p = principal(request)
    return json_ok(await factor.user_pre_disable(stores_of(request), request.app[CONFIG], p,
                                                 _device_id(request)))


@api(request=schemas.UserAssertion, response=Empty, auth="bearer")
async def user_disable(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/webauthn/{deviceId}/disable/verify"""
    p = principal(request)
    body = await read_body(request)
    await factor.user_disable(stores_of(request), request.app[CONFIG], p, _device_id(request),
                              body)
    return json_ok({})


@api(response=schemas.HtmlPage, media="text/html")
async def demo_page(request: web.Request) -> web.Response:
    """GET /mfa-demo/webauthn: a page that runs the ceremonies like Frontegg's login box."""
    return demo.page(request.app[CONFIG], request.app[SETTINGS].mount_prefix)


@api(response=schemas.HtmlPage, media="text/javascript")
async def demo_script(request: web.Request) -> web.Response:
    """GET /mfa-demo/webauthn/demo.js"""
    return demo.script(request.app[CONFIG])
