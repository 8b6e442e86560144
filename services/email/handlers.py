"""HTTP handlers of the email service: parse, call the core, dump."""

from __future__ import annotations

from aiohttp import web

from services.email import login, schemas
from services.email.app import EMAIL
from shared.http import access
from shared.http.schemas import LoginResponse
from shared.http.web import api, json_ok, login_response, read_body, stores_of


@api(request=schemas.SendCode, response=schemas.EmailCodeSent, auth="mfaToken",
     lockout=login.KIND)
async def send_code(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/emailcode: {mfaToken} -> {otcToken}."""
    return json_ok(await login.send_code(
        stores_of(request), request.app[EMAIL], session=access.session(request),
        accept_language=request.headers.get("Accept-Language")))


@api(request=schemas.VerifyCode, response=LoginResponse, auth="mfaToken", attempt=login.KIND)
async def verify_code(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/emailcode/verify -> Frontegg's login response."""
    body = await read_body(request)
    stores = stores_of(request)
    result = await login.verify_code(stores, attempt=access.attempt(request),
                                     otc_token=body["otcToken"], code=body["code"],
                                     remember_device=bool(body["rememberDevice"]))
    return login_response(result, stores.settings)
