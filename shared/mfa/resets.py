"""What support does to a user's MFA: list the factors, delete one, reset them all, lift the
lockouts. Every change is audited with the actor (`vendor`, an admin's subject, `cli:<user>`)
and the reason given; a removal also revokes the user's remembered devices and retires the
bearer tokens issued before it (whoever held them may be who the change shuts out)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.events.audit import AuditEvent
from shared.http.errors import BadRequest, NotFound
from shared.mfa.policies import iso_time
from shared.mfa.registry import BY_NAME, LOCKOUT_FACTORS
from shared.stores.bundle import Stores


@dataclass(frozen=True)
class Actor:
    """Who acts, and why (both land in the audit row's detail)."""

    name: str
    reason: str | None = None

    def detail(self, **more: Any) -> dict[str, Any]:
        """The audit detail: actor, reason when given, and `more`."""
        out: dict[str, Any] = {"actor": self.name, **more}
        if self.reason:
            out["reason"] = self.reason
        return out


class NotEnrolled(BadRequest):
    """Frontegg's answer for a user with no MFA (contract 2, section 1.1)."""

    code = "ER-01097"
    default_message = "MFA is not enrolled"


class UnknownFactor(NotFound):
    """No such factor for this user (unknown and another user's look the same)."""

    code = "ER-MFA-DEVICE-NOT-FOUND"
    default_message = "Unknown MFA device"


def iso(t: float | None) -> str | None:
    """Unix seconds as ISO 8601 UTC with a Z (shared.mfa.policies.iso_time), or None."""
    return None if t is None else iso_time(t)


async def list_factors(stores: Stores, tenant_id: str, user_id: str) -> dict[str, Any]:
    """The user's factors (kind, id, name, created, last used, locked) and the lockout state
    of every factor kind (email codes have no device but can lock)."""
    now = stores.clock.time()
    states = {f: await stores.lockout.state(tenant_id, user_id, f, now=now)
              for f in LOCKOUT_FACTORS}
    devices = await stores.devices.list_for_user(tenant_id, user_id)
    return {
        "factors": [{"kind": d.kind, "id": d.id, "name": d.name, "createdAt": iso(d.created_at),
                     "lastUsedAt": iso(d.last_used_at),
                     "locked": states[BY_NAME[d.kind].lockout or ""].locked}
                    for d in devices],
        "lockouts": [{"factor": f, "failures": s.failures, "locked": s.locked,
                      "retryAfter": int(s.retry_after)} for f, s in states.items()],
    }


async def _after_removal(stores: Stores, actor: Actor, tenant_id: str, user_id: str) -> None:
    await stores.remembered.revoke_all(tenant_id, user_id, actor.detail())
    await stores.users.mark_factors_changed(tenant_id, user_id)


async def delete_factor(stores: Stores, actor: Actor, tenant_id: str, user_id: str,
                        device_id: str) -> None:
    """Remove one factor of the user (404 for an unknown or another user's)."""
    device = await stores.devices.get(tenant_id, user_id, device_id)
    if device is None or not await stores.audit.with_change(
            "DELETE FROM mfa_devices WHERE id = $1 AND tenant_id = $2 AND user_id = $3",
            (device_id, tenant_id, user_id),
            AuditEvent(tenant_id, user_id, device.kind, "disable", "success", device_id,
                       actor.detail())):
        raise UnknownFactor()
    await _after_removal(stores, actor, tenant_id, user_id)


async def reset(stores: Stores, actor: Actor, tenant_id: str, user_id: str) -> int:
    """Clear the user's MFA: every factor and the recovery code (it may be what was lost);
    they enroll again at the next login. 400 ER-01097 for a user with no factor. The number
    of factors removed."""
    devices = await stores.devices.list_for_user(tenant_id, user_id)
    if not devices or not await stores.audit.with_change(
            "DELETE FROM mfa_devices WHERE tenant_id = $1 AND user_id = $2",
            (tenant_id, user_id),
            AuditEvent(tenant_id, user_id, "all", "reset", "success",
                       detail=actor.detail(devicesRemoved=len(devices)))):
        raise NotEnrolled()
    await stores.db.execute(
        "UPDATE mfa_users SET recovery_hmac = NULL, updated_at = $3 "
        "WHERE tenant_id = $1 AND user_id = $2", tenant_id, user_id, stores.clock.time())
    await stores.lockout.reset(tenant_id, user_id, *LOCKOUT_FACTORS)
    await _after_removal(stores, actor, tenant_id, user_id)
    return len(devices)


async def unlock(stores: Stores, actor: Actor, tenant_id: str, user_id: str,
                 factor: str | None = None) -> list[str]:
    """Lift the lockout (count, delay, lock) of one factor kind or all; the kinds that were
    delayed or locked. Audited even when nothing was locked (an operator acted)."""
    kinds = [factor] if factor else list(LOCKOUT_FACTORS)
    if factor is not None and factor not in LOCKOUT_FACTORS:
        raise BadRequest(f"factor: one of {', '.join(LOCKOUT_FACTORS)}", code="ER-MFA-VALIDATION")
    now = stores.clock.time()
    was = [f for f in kinds
           if (s := await stores.lockout.state(tenant_id, user_id, f, now=now)).locked
           or s.retry_after > 0]
    await stores.lockout.reset(tenant_id, user_id, *kinds)
    await stores.audit.record(tenant_id=tenant_id, user_id=user_id, factor=factor or "all",
                              action="unlock", outcome="success",
                              detail=actor.detail(wasLocked=was))
    return was


async def tenants_of(stores: Stores, user_id: str) -> list[str]:
    """Every tenant the user has MFA state in (vendor routes that act "regardless of
    tenant")."""
    rows = await stores.db.fetch(
        "SELECT tenant_id FROM mfa_users WHERE user_id = $1 UNION "
        "SELECT tenant_id FROM mfa_devices WHERE user_id = $1 ORDER BY tenant_id", user_id)
    return [r["tenant_id"] for r in rows]
