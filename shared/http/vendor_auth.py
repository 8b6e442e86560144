"""Vendor credentials (Frontegg's management callers): a bearer token (ours or the host
IdP's) whose MFA_VENDOR_CLAIM grants MFA_VENDOR_VALUE, or the internal API key where it may
be one; the subject in the `frontegg-user-id` / `frontegg-tenant-id` headers.
shared.http.access enforces them.

Public or internal is decided by the path: every route under `/internal/` is internal (the
gateway forwards it only with MFA_EXPOSE_INTERNAL_API, a development setting); every other
route may have come from the Internet through the gateway. The internal API key is meant
for the host's backend only, so on a public route it is refused (403) unless
MFA_VENDOR_ACCEPTS_INTERNAL_KEY says the deployment wants it there. A vendor token's tenant
claim (`tenantId`, else `tenant_id`) binds it to that tenant; a claim that is present but not
a string is refused, and a token that names no tenant (no claim, or an empty one) acts for
every tenant only with MFA_VENDOR_UNBOUND."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from shared.http.errors import BadRequest, Forbidden, Unauthorized
from shared.stores.bundle import Stores


@dataclass(frozen=True)
class VendorCaller:
    """A vendor credential's call: who acts (`vendor` for the internal API key, else the
    token's subject), the one tenant a tenant-bound token may touch (`scope`), and the
    subject headers (the tenant defaults to the scope)."""

    actor: str
    scope: str | None
    tenant_id: str | None
    user_id: str | None

    def user(self) -> str:
        """The `frontegg-user-id` the route needs (400 without it)."""
        if not self.user_id:
            raise BadRequest("frontegg-user-id is required", code="ER-MFA-VALIDATION")
        return self.user_id


def has_internal_key(stores: Stores, request: web.Request) -> bool:
    """True when the request carries the internal API key (constant-time)."""
    key = stores.settings.internal_api_key
    auth = request.headers.get("Authorization", "")
    return bool(key) and hmac.compare_digest(auth.encode(), f"Bearer {key}".encode())


def _grants(granted: Any, value: str) -> bool:
    """A claim grants `value`: equal, in a list, or a word of a space-separated scope."""
    if isinstance(granted, str):
        return granted == value or value in granted.split()
    return isinstance(granted, list) and value in granted


def _header(request: web.Request, name: str) -> str | None:
    value = request.headers.get(name, "").strip()
    if len(value) > 200:
        raise BadRequest(f"{name}: at most 200 characters", code="ER-MFA-VALIDATION")
    return value or None


def is_internal_route(request: web.Request) -> bool:
    """A route of the internal API (never routed publicly by the gateway in production)."""
    return request.path == "/internal" or request.path.startswith("/internal/")


def _scope(claims: dict[str, Any], unbound_allowed: bool) -> str | None:
    """The one tenant a vendor token may act for; None (every tenant) only when the token
    names none and the deployment allows that."""
    name = "tenantId" if "tenantId" in claims else "tenant_id"
    bound = claims.get(name)
    if isinstance(bound, str) and bound:
        return bound
    if name in claims and not isinstance(bound, str):
        raise Forbidden(f"The vendor token's {name} claim is not a tenant id",
                        code="ER-MFA-VENDOR-TENANT")
    if not unbound_allowed:
        raise Forbidden("The vendor token names no tenant (MFA_VENDOR_UNBOUND is off)",
                        code="ER-MFA-VENDOR-TENANT")
    return None


def vendor_caller(stores: Stores, request: web.Request) -> VendorCaller | None:
    """The vendor credential the request carries, or None (403 for the internal key on a
    public route unless allowed, for a token whose tenant claim is not a tenant id or that
    names none unless allowed, and when a tenant-bound token names another tenant in
    `frontegg-tenant-id`)."""
    s = stores.settings
    if has_internal_key(stores, request):
        if not (s.vendor_accepts_internal_key or is_internal_route(request)):
            raise Forbidden("The internal API key is not accepted on public routes: use a "
                            "vendor token", code="ER-MFA-INTERNAL-KEY-PUBLIC")
        actor, scope = "vendor", None
    else:
        auth = request.headers.get("Authorization", "")
        if not s.vendor_claim or not auth.lower().startswith("bearer "):
            return None
        try:
            claims = stores.bearer.claims(auth)
        except Unauthorized:
            return None
        if not _grants(claims.get(s.vendor_claim), s.vendor_value):
            return None
        actor, scope = str(claims["sub"]), _scope(claims, s.vendor_unbound)
    tenant = _header(request, "frontegg-tenant-id")
    if scope and tenant and tenant != scope:
        raise Forbidden("This credential may not act for another tenant",
                        code="ER-MFA-FOREIGN-TENANT")
    return VendorCaller(actor, scope, tenant or scope, _header(request, "frontegg-user-id"))
