"""HTTP handlers of the session service: parse, call the core, dump."""

from __future__ import annotations

from aiohttp import web

from services.session import configuration, login, profile, schemas
from shared import access
from shared.schemas import Empty, LoginResponse, MfaDevices
from shared.web import api, client_ip, json_ok, login_response, read_body, stores_of


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


@api(response=schemas.PolicyOut, auth="tenant")
async def get_policy(request: web.Request) -> web.Response:
    """GET .../mfa-policy: the tenant's effective policy."""
    return json_ok(await profile.policy_of(stores_of(request), caller=access.tenant(request)))


@api(response=schemas.PolicyOut, auth="tenant")
async def vendor_policy(request: web.Request) -> web.Response:
    """GET .../mfa-policy/vendor: the deployment-wide default."""
    return json_ok(profile.vendor_policy(stores_of(request)))


@api(request=schemas.PolicyBody, response=schemas.PolicyOut, auth="tenant")
async def save_policy(request: web.Request) -> web.Response:
    """POST .../mfa-policy: create or replace the tenant's policy."""
    return json_ok(await configuration.save_policy(
        stores_of(request), access.tenant(request), await read_body(request), replace_all=True))


@api(request=schemas.PolicyBody, response=schemas.PolicyOut, auth="tenant")
async def patch_policy(request: web.Request) -> web.Response:
    """PATCH .../mfa-policy: change some fields of the tenant's policy."""
    return json_ok(await configuration.save_policy(
        stores_of(request), access.tenant(request), await read_body(request), replace_all=False))


@api(response=schemas.Strategies, auth="bearerOptional")
async def strategies(request: web.Request) -> web.Response:
    """GET .../mfa/strategies: {strategies: [{strategy, isActive}]} of the token's tenant, or
    of the `frontegg-scoped-tenant` header's without a token."""
    p = access.optional_principal(request)
    tenant = p.tenant_id if p else request.headers.get("frontegg-scoped-tenant", "").strip()
    return json_ok(await profile.strategies(stores_of(request), tenant_id=tenant or None))


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


@api(request=schemas.PolicyBody, response=schemas.PolicyOut, auth="config")
async def put_policy(request: web.Request) -> web.Response:
    """PUT .../mfa-policy: upsert (omitted fields keep their values); a vendor without
    frontegg-tenant-id sets the environment's."""
    return json_ok(await configuration.save_policy(
        stores_of(request), access.tenant(request), await read_body(request), replace_all=False))


@api(request=schemas.StrategyBody, response=Empty, auth="config", status=201)
async def set_strategy(request: web.Request) -> web.Response:
    """POST .../mfa/strategies {strategy, isActive}: one strategy on or off."""
    body = await read_body(request)
    await configuration.set_strategy(stores_of(request), access.tenant(request),
                                     body["strategy"], body["isActive"])
    return json_ok({}, status=201)


@api(response=schemas.LockoutOut, auth="config")
async def get_lockout(request: web.Request) -> web.Response:
    """GET .../lockout-policy: the scope's (404 when none is defined)."""
    return json_ok(await configuration.get_lockout(stores_of(request), access.tenant(request)))


@api(response=schemas.LockoutOut, auth="config")
async def vendor_lockout(request: web.Request) -> web.Response:
    """GET .../lockout-policy/vendor: the environment's (or the deployment's threshold)."""
    return json_ok(await configuration.vendor_lockout(stores_of(request)))


@api(request=schemas.LockoutBody, response=schemas.LockoutOut, auth="config", status=201)
async def create_lockout(request: web.Request) -> web.Response:
    """POST .../lockout-policy {enabled, maxAttempts}: create (409 when it exists)."""
    return json_ok(await configuration.save_lockout(
        stores_of(request), access.tenant(request), await read_body(request), create=True),
        status=201)


@api(request=schemas.LockoutBody, response=schemas.LockoutOut, auth="config")
async def update_lockout(request: web.Request) -> web.Response:
    """PATCH .../lockout-policy {enabled, maxAttempts}: update (404 when there is none)."""
    return json_ok(await configuration.save_lockout(
        stores_of(request), access.tenant(request), await read_body(request), create=False))


@api(response=schemas.MfaConfigOut, auth="config")
async def get_mfa_config(request: web.Request) -> web.Response:
    """GET .../configurations/v1/mfa: issuer, code lifetimes, email sender."""
    return json_ok(await configuration.mfa_config(stores_of(request), access.tenant(request)))


@api(request=schemas.MfaConfigBody, response=schemas.MfaConfigOut, auth="config", status=201)
async def save_mfa_config(request: web.Request) -> web.Response:
    """POST .../configurations/v1/mfa: upsert the sections given."""
    return json_ok(await configuration.save_mfa_config(
        stores_of(request), access.tenant(request), await read_body(request)), status=201)
