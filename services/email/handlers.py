"""HTTP handlers of the email service: parse, call the core, dump."""

from __future__ import annotations

from aiohttp import web

from services.email import factor, schemas
from shared.schemas import LoginResponse
from shared.web import api, json_ok, login_response, read_body, stores_of

EMAIL = web.AppKey("email", factor.EmailFactor)



@api(request=schemas.SendCode, response=schemas.EmailCodeSent, auth="mfaToken")
async def send_code(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/emailcode: {mfaToken} -> {otcToken}."""
    body = await read_body(request)
    return json_ok(await factor.send_code(
        stores_of(request), request.app[EMAIL], mfa_token=body["mfaToken"],
        accept_language=request.headers.get("Accept-Language")))


@api(request=schemas.VerifyCode, response=LoginResponse, auth="mfaToken")
async def verify_code(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/emailcode/verify -> Frontegg's login response."""
    body = await read_body(request)
    stores = stores_of(request)
    result = await factor.verify_code(stores, mfa_token=body["mfaToken"],
                                      otc_token=body["otcToken"], code=body["code"],
                                      remember_device=bool(body["rememberDevice"]))
    return login_response(result, stores.settings)
