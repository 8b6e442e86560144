"""HTTP handlers of the session service: parse, call the core, dump."""

from __future__ import annotations

from aiohttp import web

from services.session import login, profile, schemas
from shared.http import access
from shared.http.schemas import Empty, LoginResponse, MfaDevices
from shared.http.web import api, client_ip, json_ok, login_response, read_body, stores_of


@api(request=schemas.StartSession, response=LoginResponse, auth="internal")
async def start_session(request: web.Request) -> web.Response:
    """POST /internal/v1/mfa/sessions: the host starts MFA after its password step."""
    body = await read_body(request)
    return json_ok(await login.start_session(
        stores_of(request), user_id=body["userId"], tenant_id=body["tenantId"],
        email=body["email"], remember_token=body["rememberDeviceToken"],
        saml_login=body["samlLogin"],
        client_ip=str(body["clientIp"]) if body["clientIp"] is not None else None))


@api(response=schemas.AllowRemember, query={"mfaToken": "the MFA session token"},
     auth="mfaToken")
async def allow_remember_device(request: web.Request) -> web.Response:
    """GET .../mfa-policy/allow-remember-device?mfaToken=..."""
    return json_ok(await login.allow_remember(stores_of(request),
                                              session=access.session(request)))


@api(response=MfaDevices, auth="bearer")
async def devices(request: web.Request) -> web.Response:
    """GET /resources/users/v1/mfa/devices."""
    return json_ok(await profile.devices_of(stores_of(request),
                                            principal=access.principal(request),
                                            described=True))


@api(request=schemas.RenameDevice, response=schemas.RenamedDevice, auth="bearer")
async def rename_device(request: web.Request) -> web.Response:
    """PATCH /resources/users/v1/mfa/devices/{deviceId} {name}: the user names a device."""
    body = await read_body(request)
    return json_ok(await profile.rename_device(
        stores_of(request), principal=access.principal(request),
        device_id=request.match_info["deviceId"], name=body["name"].strip()))


@api(request=schemas.StepUp, response=LoginResponse, auth="bearer")
async def step_up(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/step-up/generate."""
    body = await read_body(request)
    return json_ok(await profile.step_up(stores_of(request), principal=access.principal(request),
                                         max_age=body["maxAge"]))


@api(request=schemas.Recover, response=Empty)
async def recover(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/recover."""
    body = await read_body(request)
    await login.recover(stores_of(request), email=body["email"], code=body["recoveryCode"],
                        client_ip=client_ip(request))
    return json_ok({})


@api(response=schemas.Jwks)
async def jwks(request: web.Request) -> web.Response:
    """GET /.well-known/jwks.json: the keys that verify issued access tokens."""
    return json_ok(stores_of(request).tokens.jwks())


@api(response=schemas.RecoveryCodeSet, auth="bearer")
async def regenerate_recovery_codes(request: web.Request) -> web.Response:
    """POST /resources/users/v1/mfa/recovery-codes: a new set of 10 (a recent MFA needed)."""
    return json_ok(await profile.regenerate_recovery_codes(stores_of(request),
                                                           principal=access.principal(request)))


@api(response=schemas.RecoveryCodesLeft, auth="bearer")
async def recovery_codes_left(request: web.Request) -> web.Response:
    """GET /resources/users/v1/mfa/recovery-codes: how many are left."""
    return json_ok(await profile.recovery_codes_left(stores_of(request),
                                                     principal=access.principal(request)))


@api(request=schemas.RecoveryLogin, response=LoginResponse, auth="mfaToken",
     attempt="recovery")
async def recovery_code_login(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/recovery-codes/verify: a code of the set mid-login."""
    body = await read_body(request)
    stores = stores_of(request)
    result = await login.login_with_code(stores, attempt=access.attempt(request),
                                         code=body["recoveryCode"],
                                         remember=bool(body["rememberDevice"]))
    return login_response(result, stores.settings)


@api(response=schemas.TrustedDevices, auth="bearer")
async def trusted_devices(request: web.Request) -> web.Response:
    """GET /resources/users/v1/mfa/trusted-devices"""
    return json_ok(await profile.trusted_devices(stores_of(request),
                                                 principal=access.principal(request)))


@api(response=Empty, auth="bearer")
async def revoke_trusted_device(request: web.Request) -> web.Response:
    """DELETE /resources/users/v1/mfa/trusted-devices/{deviceId}, or every one without it."""
    await profile.revoke_trusted_device(stores_of(request), principal=access.principal(request),
                                        device_id=request.match_info.get("deviceId"))
    return json_ok({})
