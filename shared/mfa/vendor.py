"""Frontegg's vendor routes for a user's MFA (contract 2, section 1), over shared.mfa.resets:
which tenants a vendor call acts in, and Frontegg's answers. No HTTP here."""

from __future__ import annotations

from shared.http.vendor_auth import VendorCaller
from shared.mfa.registry import RESET, UNENROLL
from shared.mfa.resets import (
    Actor,
    NotEnrolled,
    UnknownFactor,
    delete_factor,
    reset,
    tenants_of,
    unlock,
)
from shared.stores.bundle import Stores


async def _tenants(stores: Stores, caller: VendorCaller, user_id: str) -> list[str]:
    """The tenant named in frontegg-tenant-id (or the one a tenant-bound token may touch),
    else every tenant the user has MFA in (the spec lists no tenant header)."""
    if caller.tenant_id:
        return [caller.tenant_id]
    return await tenants_of(stores, user_id)


async def disable_mfa(stores: Stores, caller: VendorCaller, reason: str | None) -> int:
    """1.1 server-to-server: clear the user's MFA (every factor, the recovery code); they
    enroll again at the next login. 400 ER-01097 when nothing was enrolled."""
    user_id = caller.user()
    removed = await _reset_in(stores, Actor(caller.actor, reason),
                              await _tenants(stores, caller, user_id), user_id)
    if not removed:
        raise NotEnrolled()
    return removed


async def _reset_in(stores: Stores, actor: Actor, tenants: list[str], user_id: str,
                    path: str = RESET) -> int:
    """Reset the user in each tenant where they have credentials (what the registry removes
    on `path`); the number of credentials removed."""
    removed = 0
    for tenant_id in tenants:
        try:
            removed += sum((await reset(stores, actor, tenant_id, user_id, path)).values())
        except NotEnrolled:
            continue
    return removed


async def disable_device(stores: Stores, caller: VendorCaller, device_id: str,
                         reason: str | None) -> None:
    """1.2 from a vendor: remove that device of the user, no code needed (404 when the user
    has no such device)."""
    user_id, actor = caller.user(), Actor(caller.actor, reason)
    for tenant_id in await _tenants(stores, caller, user_id):
        try:
            await delete_factor(stores, actor, tenant_id, user_id, device_id)
            return
        except UnknownFactor:
            continue
    raise UnknownFactor()


async def unenroll(stores: Stores, caller: VendorCaller, user_id: str,
                   reason: str | None) -> int:
    """1.3 vendor-only: every factor in every tenant (a tenant-bound token: its tenant). A
    user with nothing enrolled is a no-op (the spec documents no error); the count removed."""
    tenants = [caller.scope] if caller.scope else await tenants_of(stores, user_id)
    return await _reset_in(stores, Actor(caller.actor, reason), tenants, user_id, UNENROLL)


async def unlock_user(stores: Stores, caller: VendorCaller, user_id: str,
                      reason: str | None) -> None:
    """1.4: lift the user's MFA lockouts, every factor, every tenant (or the bound one)."""
    actor = Actor(caller.actor, reason)
    tenants = [caller.scope] if caller.scope else await tenants_of(stores, user_id)
    for tenant_id in tenants:
        await unlock(stores, actor, tenant_id, user_id)
