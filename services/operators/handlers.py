"""HTTP handlers of the operators' public routes (Frontegg's paths): the vendor-only unenroll
and unlock (core: shared.mfa.vendor), and the configuration documents: the MFA policy, the
strategies, the lockout policy and the MFA configuration (core: configuration). Parse, call
the core, dump. The vendor forms of /users/v1/mfa/disable stay with the totp service, which
serves that path."""

from __future__ import annotations

from aiohttp import web

from services.operators import configuration, schemas
from shared.http import access
from shared.http.schemas import Empty, Reason
from shared.http.web import api, json_ok, path_id, read_body, stores_of
from shared.mfa import vendor


@api(request=Reason, response=Empty, auth="vendor")
async def unenroll(request: web.Request) -> web.Response:
    """POST /resources/vendor-only/users/v1/{userId}/mfa/unenroll: every factor, every
    tenant."""
    body = await read_body(request)
    await vendor.unenroll(stores_of(request), access.vendor(request),
                          path_id(request, "userId"), body["reason"])
    return json_ok({})


@api(request=Reason, response=Empty, auth="vendor")
async def unlock(request: web.Request) -> web.Response:
    """POST /resources/users/v1/{userId}/unlock: lift the user's MFA lockouts."""
    body = await read_body(request)
    await vendor.unlock_user(stores_of(request), access.vendor(request),
                             path_id(request, "userId"), body["reason"])
    return json_ok({})


@api(response=schemas.PolicyOut, auth="tenant")
async def get_policy(request: web.Request) -> web.Response:
    """GET .../mfa-policy: the tenant's effective policy."""
    return json_ok(await configuration.policy_of(stores_of(request), caller=access.tenant(request)))


@api(response=schemas.PolicyOut, auth="tenant")
async def vendor_policy(request: web.Request) -> web.Response:
    """GET .../mfa-policy/vendor: the deployment-wide default."""
    return json_ok(configuration.vendor_policy(stores_of(request)))


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
    return json_ok(await configuration.strategies(stores_of(request), tenant_id=tenant or None))


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
