"""Who may call a route, enforced once, from what its handler declares in `@api(...)`.

`auth` says what authorizes the route: `none`, `mfaToken` (the MFA session of the body's or the
query's mfaToken), `bearer` (an access token), `bearerOptional` (a bearer token when one is
sent), `internal` (the internal API key), `tenant` (a bearer token, or a vendor credential with
`frontegg-tenant-id`) or `vendor` (a vendor credential: a token whose MFA_VENDOR_CLAIM grants
MFA_VENDOR_VALUE, or the internal API key where shared.http.vendor_auth accepts it; the subject
in the `frontegg-user-id` / `frontegg-tenant-id` headers) or `config` (as `tenant`, but a vendor
credential without `frontegg-tenant-id` speaks for the whole environment: tenant ''). `vendor=`
names the vendor form of a route whose path Frontegg also serves to users (mfa/disable): a
request with a vendor credential runs that handler, as that handler declares. `attempt` names
the factor whose proof the route checks: the request then runs inside `shared.mfa.flow.attempt`,
reserved before the handler runs. `lockout` names the factor a route that proves nothing
(sending a code, starting a ceremony) is refused for while locked. The middleware puts what it
found on the request; handlers read it with the accessors here, and an accessor for something
the route did not declare is a programming error."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from shared.http.client_ip import behind_gateway
from shared.http.errors import Forbidden, NotFound, Unauthorized
from shared.http.vendor_auth import VendorCaller, has_internal_key, vendor_caller
from shared.mfa import flow
from shared.mfa.sessions import MfaSession
from shared.mfa.tokens import Principal
from shared.stores.bundle import Stores

AUTH_KINDS = ("none", "mfaToken", "bearer", "bearerOptional", "internal", "tenant", "config",
              "vendor")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class TenantCaller:
    """Whoever asks about a tenant's configuration: the tenant, and whether they may change it
    (a vendor credential, or a token whose MFA_ADMIN_CLAIM grants MFA_ADMIN_VALUE)."""

    tenant_id: str
    admin: bool
    actor: str = ""


_PRINCIPAL = web.RequestKey("mfa_principal", Principal)
_VENDOR = web.RequestKey("mfa_vendor", VendorCaller)
API = web.RequestKey("mfa_api", dict)  # the declaration the request runs under
_SESSION = web.RequestKey("mfa_session", MfaSession)
_ATTEMPT = web.RequestKey("mfa_attempt", flow.Attempt)
_TENANT = web.RequestKey("mfa_tenant", TenantCaller)


def _vendor_only(stores: Stores, request: web.Request) -> VendorCaller:
    caller = vendor_caller(stores, request)
    if caller is None:
        stores.bearer.claims(request.headers.get("Authorization"))  # 401 when not a token
        raise Forbidden("A vendor credential is required", code="ER-MFA-NOT-VENDOR")
    return caller


async def _tenant_caller(stores: Stores, request: web.Request, *,
                         environment: bool = False) -> TenantCaller:
    vendor = vendor_caller(stores, request)
    if vendor is not None:
        if not vendor.tenant_id and not environment:
            raise Forbidden("frontegg-tenant-id is required with a vendor credential")
        return TenantCaller(vendor.tenant_id or "", admin=True, actor=vendor.actor)
    p = stores.bearer.principal(request.headers.get("Authorization"))
    await _refuse_stale(stores, p)  # a retired admin token changes no policy
    s = stores.settings
    granted = p.claims.get(s.admin_claim)
    admin = granted == s.admin_value or (isinstance(granted, list) and s.admin_value in granted)
    return TenantCaller(p.tenant_id, admin=admin, actor=p.user_id)


async def authorized(request: web.Request, handler: Handler, meta: dict[str, Any],
                     stores: Stores, body: Callable[[web.Request], Awaitable[dict[str, Any]]]
                     ) -> web.StreamResponse:
    """Authenticate as declared, parse the body (bad input counts nothing), then run the
    handler: inside the reserved attempt, or with the session or principal on the request."""
    if any("\x00" in v for v in request.match_info.values()):
        raise NotFound()  # no stored id holds a NUL (Postgres text cannot): unknown, not a 500
    alt = meta.get("vendor")
    if alt is not None and vendor_caller(stores, request) is not None:
        return await authorized(request, alt, alt.__api__, stores, body)
    request[API] = meta
    auth, factor = meta["auth"], meta.get("attempt") or meta.get("lockout")
    principal: Principal | None = None
    if auth == "vendor":
        request[_VENDOR] = _vendor_only(stores, request)
    if auth == "internal" and not has_internal_key(stores, request):
        raise Unauthorized("Invalid internal API key", code="ER-MFA-INTERNAL-KEY")
    if auth == "bearer" or (auth == "bearerOptional" and request.headers.get("Authorization")):
        principal = stores.bearer.principal(request.headers.get("Authorization"))
        await _refuse_stale(stores, principal)
        request[_PRINCIPAL] = principal
    if auth in ("tenant", "config"):
        request[_TENANT] = await _tenant_caller(stores, request, environment=auth == "config")
    data = await body(request) if meta.get("request") is not None else {}
    token = (request.query.get("mfaToken") if request.method == "GET"
             else data.get("mfaToken")) if auth == "mfaToken" else None
    if meta.get("attempt"):
        async with flow.attempt(stores, meta["attempt"], mfa_token=token,
                                principal=principal if auth != "mfaToken" else None) as a:
            request[_ATTEMPT] = a
            a.client = lambda: (request.headers.get("User-Agent", ""),
                                behind_gateway(request.headers.get("X-Forwarded-For"),
                                               request.remote, stores.settings.trusted_proxies))
            return await handler(request)
    if auth == "mfaToken":
        request[_SESSION] = await flow.open_session(stores, token, factor=factor)
    elif factor and principal is not None:
        await flow.check_unlocked(stores, principal, factor)
    return await handler(request)


async def _refuse_stale(stores: Stores, p: Principal) -> None:
    """401 for a token issued before the user's factors were last changed outside the user's
    own session (a recovery, an operator's reset): whoever held it may be who the change was
    meant to shut out. One second of granularity (iat is whole seconds)."""
    changed = await stores.users.factors_changed_at(p.tenant_id, p.user_id)
    issued = p.claims.get("iat", p.claims.get("auth_time"))
    if changed is not None and (not isinstance(issued, int | float) or issued < int(changed)):
        raise Unauthorized("This token predates a change of the user's MFA factors",
                           code="ER-MFA-TOKEN-RETIRED")


def principal(request: web.Request) -> Principal:
    """The logged-in user of a route declared `bearer` (or `bearerOptional`, when sent)."""
    p = request.get(_PRINCIPAL)
    if p is None:
        raise RuntimeError("principal() on a route that does not declare bearer auth")
    return p


def optional_principal(request: web.Request) -> Principal | None:
    """The user of a `bearerOptional` route, or None when no token was sent."""
    return request.get(_PRINCIPAL)


def session(request: web.Request) -> MfaSession:
    """The MFA session of a route declared `mfaToken` (that proves nothing)."""
    s = request.get(_SESSION)
    if s is None:
        raise RuntimeError("session() on a route that does not declare mfaToken auth")
    return s


def attempt(request: web.Request) -> flow.Attempt:
    """The reserved attempt of a route declared with `attempt=`."""
    a = request.get(_ATTEMPT)
    if a is None:
        raise RuntimeError("attempt() on a route that declares no attempt")
    return a


def tenant(request: web.Request) -> TenantCaller:
    """The caller of a route declared `tenant` or `config`."""
    t = request.get(_TENANT)
    if t is None:
        raise RuntimeError("tenant() on a route that does not declare tenant or config auth")
    return t


def vendor(request: web.Request) -> VendorCaller:
    """The vendor caller of a route declared `vendor`."""
    v = request.get(_VENDOR)
    if v is None:
        raise RuntimeError("vendor() on a route that does not declare vendor auth")
    return v
