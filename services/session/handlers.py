"""HTTP handlers of the session service: parse, call the core, dump."""

from __future__ import annotations

import hmac

from aiohttp import web

from services.session import factor, schemas
from shared.errors import BadRequest, Forbidden, Unauthorized
from shared.flow import require_session
from shared.policies import default_policy
from shared.schemas import Empty, LoginResponse, MfaDevices
from shared.settings import STRATEGIES
from shared.web import api, json_ok, principal, read_body, stores_of


def _internal(request: web.Request) -> bool:
    """True when the request carries the internal API key (constant-time)."""
    key = stores_of(request).settings.internal_api_key
    auth = request.headers.get("Authorization", "")
    return bool(key) and hmac.compare_digest(auth.encode(), f"Bearer {key}".encode())


@api(request=schemas.StartSession, response=LoginResponse, auth="internal")
async def start_session(request: web.Request) -> web.Response:
    """POST /internal/v1/mfa/sessions: the host starts MFA after its password step."""
    if not _internal(request):
        raise Unauthorized("Invalid internal API key", code="ER-MFA-INTERNAL-KEY")
    body = await read_body(request)
    return json_ok(await factor.start_session(stores_of(request), **body))


@api(response=schemas.AllowRemember, query={"mfaToken": "the MFA session token"})
async def allow_remember_device(request: web.Request) -> web.Response:
    """GET .../mfa-policy/allow-remember-device?mfaToken=..."""
    s = await require_session(stores_of(request), request.query.get("mfaToken"))
    return json_ok(await factor.allow_remember(stores_of(request), s.tenant_id))


def _tenant(request: web.Request, *, write: bool) -> str:
    """The tenant a policy request is about, and whether the caller may do it."""
    if _internal(request):
        tenant = request.headers.get("frontegg-tenant-id", "").strip()
        if not tenant:
            raise Forbidden("frontegg-tenant-id is required with the internal API key")
        return tenant
    p = principal(request)
    settings = stores_of(request).settings
    granted = p.claims.get(settings.admin_claim)
    is_admin = granted == settings.admin_value or (
        isinstance(granted, list) and settings.admin_value in granted)
    if write and not is_admin:
        raise Forbidden("Tenant administration is required", code="ER-MFA-NOT-ADMIN")
    return p.tenant_id


@api(response=schemas.PolicyOut, auth="bearer")
async def get_policy(request: web.Request) -> web.Response:
    """GET .../mfa-policy: the tenant's effective policy."""
    tenant = _tenant(request, write=False)
    return json_ok((await stores_of(request).policies.get(tenant)).to_json())


@api(response=schemas.PolicyOut, auth="bearer")
async def vendor_policy(request: web.Request) -> web.Response:
    """GET .../mfa-policy/vendor: the deployment-wide default."""
    _tenant(request, write=False)
    return json_ok(default_policy(stores_of(request).settings).to_json())


async def _save(request: web.Request, *, replace_all: bool) -> web.Response:
    tenant = _tenant(request, write=True)
    body = await read_body(request)
    stores = stores_of(request)
    if body.get("mfaDeviceExpiration", 0) > stores.settings.device_expiration_cap:
        raise BadRequest(f"mfaDeviceExpiration: at most {stores.settings.device_expiration_cap}",
                         code="ER-MFA-VALIDATION")
    return json_ok((await stores.policies.save(tenant, body, replace_all=replace_all)).to_json())


@api(request=schemas.PolicyBody, response=schemas.PolicyOut, auth="bearer")
async def save_policy(request: web.Request) -> web.Response:
    """POST .../mfa-policy: create or replace the tenant's policy."""
    return await _save(request, replace_all=True)


@api(request=schemas.PolicyBody, response=schemas.PolicyOut, auth="bearer")
async def patch_policy(request: web.Request) -> web.Response:
    """PATCH .../mfa-policy: change some fields of the tenant's policy."""
    return await _save(request, replace_all=False)


@api(response=schemas.Strategies)
async def strategies(request: web.Request) -> web.Response:
    """GET .../mfa/strategies: {strategies: [{strategy, isActive}]}."""
    stores = stores_of(request)
    if request.headers.get("Authorization"):
        tenant = principal(request).tenant_id
    else:
        tenant = request.headers.get("frontegg-scoped-tenant", "").strip()
    policy = (await stores.policies.get(tenant)) if tenant else default_policy(stores.settings)
    return json_ok({"strategies": [{"strategy": s, "isActive": policy.allows(s)}
                                   for s in STRATEGIES]})


@api(response=MfaDevices, auth="bearer")
async def devices(request: web.Request) -> web.Response:
    """GET /resources/users/v1/mfa/devices."""
    return json_ok(await factor.devices_of(stores_of(request), principal(request)))


@api(request=schemas.StepUp, response=LoginResponse, auth="bearer")
async def step_up(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/step-up/generate."""
    p = principal(request)
    body = await read_body(request)
    return json_ok(await factor.step_up(stores_of(request), p, body["maxAge"]))


@api(request=schemas.Recover, response=Empty)
async def recover(request: web.Request) -> web.Response:
    """POST /resources/auth/v1/user/mfa/recover."""
    body = await read_body(request)
    await factor.recover(stores_of(request), body["email"], body["recoveryCode"])
    return json_ok({})


@api(response=schemas.Jwks)
async def jwks(request: web.Request) -> web.Response:
    """GET /.well-known/jwks.json: the keys that verify issued access tokens."""
    return json_ok(stores_of(request).tokens.jwks())
