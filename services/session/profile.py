"""The session service's logged-in side (Bearer): the user's devices, step-up, the
recovery-code set and the trusted devices. No HTTP here."""

from __future__ import annotations

from typing import Any

from shared.http.errors import BadRequest, NotFound
from shared.mfa import registry
from shared.mfa.devices import Device
from shared.mfa.flow import login_body, may_create
from shared.mfa.policies import Policy, iso_time
from shared.mfa.recovery import SET_SIZE
from shared.mfa.tokens import Principal, fresh_mfa
from shared.stores.bundle import Stores

NOT_ENROLLED = "MFA is not enrolled"


def device_name(d: Device) -> str:
    """The name the user gave the device, else one from its kind (a phone: its masked
    number)."""
    if d.name:
        return d.name
    if d.kind == registry.SMS.name:
        return f"Phone {d.data.get('phoneMasked', '')}".strip()
    return registry.kind(d.kind).label


def mfa_devices(devices: list[Device], email: str, policy: Policy, *,
                described: bool = False, usable_only: bool = True) -> dict[str, list[Any]]:
    """Frontegg's mfaDevices: always all four arrays, each device in its kind's array (the
    registry's), but (`usable_only`) the kinds the tenant's strategies switch off: they cannot
    log in, so a user left with none is offered enrollment. `described` adds our name,
    createdAt and lastUsedAt beside Frontegg's fields (the logged-in device list, which shows
    every device, so the user can remove one that no longer logs in)."""
    out: dict[str, list[Any]] = {name: [] for name in registry.ARRAYS}
    for d in devices:
        kind = registry.BY_NAME.get(d.kind)
        array = kind.array if kind else None
        if kind is None or array is None or usable_only and not policy.allows_kind(kind):
            continue
        item: dict[str, Any] = {"id": d.id}
        if d.kind == registry.SMS.name:
            item["phoneNumber"] = d.data.get("phoneMasked", "")
        elif d.kind == registry.WEBAUTHN.name:
            item.update(deviceType=d.data.get("deviceType", "CrossPlatform"), name=d.name)
        if described:
            item.update(name=device_name(d), createdAt=iso_time(d.created_at),
                        lastUsedAt=iso_time(d.last_used_at) if d.last_used_at else None)
        out[array].append(item)
    if email and policy.allows_kind(registry.EMAIL):
        out[registry.EMAIL.array or ""].append({"email": email})
    return out


def enrolled(view: dict[str, list[Any]]) -> bool:
    """Whether the four arrays hold any factor."""
    return any(view[k] for k in registry.ARRAYS)


async def devices_of(stores: Stores, *, principal: Principal,
                     described: bool = False) -> dict[str, list[Any]]:
    """The logged-in user's devices, as the four arrays."""
    p = principal
    policy = await stores.policies.get(p.tenant_id)
    return mfa_devices(await stores.devices.list_for_user(p.tenant_id, p.user_id), p.email,
                       policy, described=described, usable_only=not described)


class UnknownDevice(NotFound):
    """Not a device of this user (another user's device looks the same)."""

    code = "ER-MFA-UNKNOWN-DEVICE"
    default_message = "Unknown device"


async def rename_device(stores: Stores, *, principal: Principal, device_id: str,
                        name: str) -> dict[str, Any]:
    """Give one of the user's devices a name of their choosing."""
    p = principal
    if not await stores.devices.rename(p.tenant_id, p.user_id, device_id, name):
        raise UnknownDevice()
    await stores.audit.record(tenant_id=p.tenant_id, user_id=p.user_id, factor="device",
                              action="rename", outcome="success", device_id=device_id)
    return {"id": device_id, "name": name}


async def step_up(stores: Stores, *, principal: Principal, max_age: int | None
                  ) -> dict[str, Any]:
    """A fresh MFA session for a logged-in user, or a login response when the token's MFA is
    at most `max_age` seconds old (capped at MFA_STEP_UP_MAX_AGE)."""
    p = principal
    cap = stores.settings.step_up_max_age
    if max_age is not None and fresh_mfa(p.claims, min(max_age, cap), stores.clock.time()):
        # Still fresh: the same authentication re-issued, never fresher and never longer-lived
        # than the token presented (else renewing would launder an old MFA into a new one).
        return login_body(stores, tenant_id=p.tenant_id, user_id=p.user_id, email=p.email,
                          amr=list(p.claims["amr"]), auth_time=int(p.claims["auth_time"]),
                          not_after=int(p.claims["exp"]))
    policy = await stores.policies.get(p.tenant_id)
    view = mfa_devices(await stores.devices.list_for_user(p.tenant_id, p.user_id), p.email,
                       policy)
    if not enrolled(view):
        raise BadRequest(NOT_ENROLLED, code="ER-MFA-NOT-ENROLLED")
    lock_at = await stores.lockout.tenant_lock_at(p.tenant_id, now=stores.clock.time())
    token, _ = await stores.sessions.create(tenant_id=p.tenant_id, user_id=p.user_id,
                                            email=p.email, purpose="stepup", lock_at=lock_at,
                                            strategies=policy.strategies)
    return {"mfaToken": token, "mfaEnrolled": True, "mfaDevices": view}


async def regenerate_recovery_codes(stores: Stores, *, principal: Principal) -> dict[str, Any]:
    """A new set of recovery codes for an enrolled user who passed MFA within the tenant's
    `recoveryCodesRequireMfaWithin` (the registry's window for sets); the old set stops
    working."""
    p = principal
    await may_create(stores, p, registry.RECOVERY_SET)
    if not enrolled(await devices_of(stores, principal=p)):
        raise BadRequest(NOT_ENROLLED, code="ER-MFA-NOT-ENROLLED")
    codes = await stores.recovery_sets.regenerate(p.tenant_id, p.user_id, p.email)
    await stores.audit.record(tenant_id=p.tenant_id, user_id=p.user_id, factor="recovery",
                              action="regenerate", outcome="success",
                              detail={"codes": len(codes)})
    return {"recoveryCodes": codes}


async def recovery_codes_left(stores: Stores, *, principal: Principal) -> dict[str, Any]:
    """How many codes of the user's set are unused, never the codes."""
    n, at = await stores.recovery_sets.remaining(principal.tenant_id, principal.user_id)
    return {"remaining": n, "total": SET_SIZE, "createdAt": iso_time(at) if at else None}


async def trusted_devices(stores: Stores, *, principal: Principal) -> dict[str, Any]:
    """The user's remembered browsers: label, network, created, last used, expiry."""
    rows = await stores.remembered.list_for_user(principal.tenant_id, principal.user_id)
    return {"devices": [
        {"id": r["chain_id"], "label": r["label"] or "Unknown browser",
         "network": r["network"] or None, "createdAt": iso_time(r["created_at"]),
         "lastUsedAt": iso_time(r["last_used_at"] or r["created_at"]),
         "expiresAt": iso_time(r["expires_at"])} for r in rows]}


async def revoke_trusted_device(stores: Stores, *, principal: Principal,
                                device_id: str | None) -> None:
    """Forget one remembered browser (404 if it is not the user's), or all of them; audited
    with the deletion (shared.mfa.remember)."""
    p = principal
    if device_id is None:
        await stores.remembered.revoke_all(p.tenant_id, p.user_id, {"by": "user"})
    elif not await stores.remembered.revoke(p.tenant_id, p.user_id, device_id):
        raise UnknownDevice()
