"""Vendor credentials (Frontegg's management callers): the internal API key, or a bearer
token (ours or the host IdP's) whose MFA_VENDOR_CLAIM grants MFA_VENDOR_VALUE; the subject in
the `frontegg-user-id` / `frontegg-tenant-id` headers. shared.http.access enforces them."""

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


def vendor_caller(stores: Stores, request: web.Request) -> VendorCaller | None:
    """The vendor credential the request carries, or None (403 when a tenant-bound token
    names another tenant in `frontegg-tenant-id`)."""
    s = stores.settings
    if has_internal_key(stores, request):
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
        bound = claims.get("tenantId") or claims.get("tenant_id")
        actor, scope = str(claims["sub"]), bound if isinstance(bound, str) and bound else None
    tenant = _header(request, "frontegg-tenant-id")
    if scope and tenant and tenant != scope:
        raise Forbidden("This credential may not act for another tenant",
                        code="ER-MFA-FOREIGN-TENANT")
    return VendorCaller(actor, scope, tenant or scope, _header(request, "frontegg-user-id"))
