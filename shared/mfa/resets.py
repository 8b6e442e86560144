"""What support does to a user's MFA: list the factors, delete one, reset them all, lift the
lockouts; and `clear`, which every removal path (an operator's reset by API, CLI or vendor
route, vendor unenroll, /mfa/recover, a forced import) runs with its name, so what each path
removes is what the registry declares for it (registry.removed_on), never a feature's choice.
Every change is audited with the actor (`vendor`, an admin's subject, `cli:<user>`) and the
reason given; a removal also revokes the user's remembered devices and retires the bearer
tokens issued before it (whoever held them may be who the change shuts out)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.events.audit import AuditEvent
from shared.http.errors import BadRequest, NotFound
from shared.mfa import registry
from shared.mfa.devices import Device, lock_user
from shared.mfa.policies import iso_time
from shared.mfa.registry import KINDS, LOCKOUT_FACTORS
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


async def _count(stores: Stores, storage: str, tenant_id: str, user_id: str) -> int:
    """How many credentials a storage other than device rows holds for the user."""
    if storage == registry.USER_CODE:
        return int(await stores.recovery.has_code(tenant_id, user_id))
    if storage == registry.CODE_SET:
        return (await stores.recovery_sets.remaining(tenant_id, user_id))[0]
    assert storage == registry.TRUSTED, storage
    return len(await stores.remembered.list_for_user(tenant_id, user_id))


async def holdings(stores: Stores, tenant_id: str, user_id: str,
                   devices: list[Device] | None = None) -> dict[str, int]:
    """How many credentials of each listed kind the user holds (device rows by kind, the
    recovery code, the set's unused codes, remembered browsers)."""
    if devices is None:
        devices = await stores.devices.list_for_user(tenant_id, user_id, every=True)
    out: dict[str, int] = {}
    for k in KINDS:
        if not k.listed:
            continue
        if k.stored:
            out[k.name] = sum(1 for d in devices if d.kind == k.name)
        else:
            out[k.name] = await _count(stores, k.storage, tenant_id, user_id)
    return out


async def list_factors(stores: Stores, tenant_id: str, user_id: str) -> dict[str, Any]:
    """Every credential the user holds: each stored one (MFA devices and passkeys: kind, id,
    name, created, last used, locked), the count of each listed kind, and the lockout state
    of every factor kind (email codes have no device but can lock)."""
    now = stores.clock.time()
    states = {f: await stores.lockout.state(tenant_id, user_id, f, now=now)
              for f in LOCKOUT_FACTORS}
    devices = await stores.devices.list_for_user(tenant_id, user_id, every=True)
    counts = await holdings(stores, tenant_id, user_id, devices)

    def locked(kind: str) -> bool:
        lockout = registry.kind(kind).lockout
        return bool(lockout and states[lockout].locked)

    return {
        "factors": [{"kind": d.kind, "id": d.id, "name": d.name, "createdAt": iso(d.created_at),
                     "lastUsedAt": iso(d.last_used_at), "locked": locked(d.kind)}
                    for d in devices],
        "credentials": [{"kind": k, "count": n} for k, n in counts.items()],
        "lockouts": [{"factor": f, "failures": s.failures, "locked": s.locked,
                      "retryAfter": int(s.retry_after)} for f, s in states.items()],
    }


# The statements that remove every credential of one storage for a user ($1 tenant, $2 user),
# each answering how many it removed. Device rows are removed by kind (their own statement).
_REMOVE: dict[str, str] = {
    registry.USER_CODE: "UPDATE mfa_users SET recovery_hmac = NULL WHERE tenant_id = $1 "
                        "AND user_id = $2 AND recovery_hmac IS NOT NULL",
    registry.CODE_SET: "DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2",
}


async def clear(stores: Stores, tenant_id: str, user_id: str, path: str, *,
                event: AuditEvent, keep: frozenset[str] = frozenset(),
                require_some: bool = False) -> dict[str, int]:
    """Remove every credential `path` removes (registry.removed_on), but those whose storage
    is in `keep`, in one transaction that first takes the user's lock (parallel removals take
    turns: the counts are each one's own). `event`, its detail given the counts, is written in
    that transaction; with `require_some`, a removal that found nothing raises NotEnrolled
    and writes nothing. Then remembered browsers are forgotten (when the path removes them)
    and the user's older bearer tokens retired. The counts removed, per kind."""
    kinds = [k for k in registry.removed_on(path) if k.storage not in keep]
    stored = [k.name for k in kinds if k.stored]
    removed: dict[str, int] = {}
    async with stores.db.transaction() as tx:
        await lock_user(stores.db, tx, tenant_id, user_id)
        if stored:
            marks = ", ".join(f"${i}" for i in range(3, 3 + len(stored)))
            for row in await tx.fetch(
                    f"DELETE FROM mfa_devices WHERE tenant_id = $1 AND user_id = $2 "
                    f"AND kind IN ({marks}) RETURNING kind", tenant_id, user_id, *stored):
                removed[row["kind"]] = removed.get(row["kind"], 0) + 1
        for k in kinds:
            if k.storage in _REMOVE and (n := await tx.execute(_REMOVE[k.storage], tenant_id,
                                                               user_id)):
                removed[k.name] = n
        if require_some and not removed:
            raise NotEnrolled()
        await stores.audit.write_in(tx, AuditEvent(
            event.tenant_id, event.user_id, event.factor, event.action, event.outcome,
            event.device_id, {**event.detail, "removed": removed,
                              "devicesRemoved": sum(removed.get(k, 0) for k in stored)}))
    if any(k.storage == registry.TRUSTED for k in kinds):
        await stores.remembered.revoke_all(tenant_id, user_id, dict(event.detail))
    await stores.users.mark_factors_changed(tenant_id, user_id)
    return removed


async def delete_factor(stores: Stores, actor: Actor, tenant_id: str, user_id: str,
                        device_id: str) -> None:
    """Remove one credential of the user (an MFA device or a passkey; 404 for an unknown or
    another user's), then forget the remembered browsers and retire older tokens."""
    device = await stores.devices.get(tenant_id, user_id, device_id)
    if device is None or not await stores.audit.with_change(
            "DELETE FROM mfa_devices WHERE id = $1 AND tenant_id = $2 AND user_id = $3",
            (device_id, tenant_id, user_id),
            AuditEvent(tenant_id, user_id, device.kind, "disable", "success", device_id,
                       actor.detail())):
        raise UnknownFactor()
    await stores.remembered.revoke_all(tenant_id, user_id, actor.detail())
    await stores.users.mark_factors_changed(tenant_id, user_id)


async def reset(stores: Stores, actor: Actor, tenant_id: str, user_id: str,
                path: str = registry.RESET) -> dict[str, int]:
    """Clear the user's MFA: every credential the registry removes on `path` (devices,
    passkeys, the recovery code and set, remembered browsers: any may be what was lost or
    what an intruder made); they enroll again at the next login. 400 ER-01097 for a user who
    holds none (of parallel resets, all but the first). What was removed, per kind."""
    removed = await clear(stores, tenant_id, user_id, path, require_some=True,
                          event=AuditEvent(tenant_id, user_id, "all", "reset", "success",
                                           detail=actor.detail()))
    await stores.lockout.reset(tenant_id, user_id, *LOCKOUT_FACTORS)
    return removed


def reset_answer(removed: dict[str, int]) -> dict[str, Any]:
    """What the admin API and CLI print of a reset: the devices and passkeys removed (the
    figure Frontegg's tools know), and every kind's count."""
    return {"removed": sum(n for k, n in removed.items() if registry.kind(k).stored),
            "credentials": removed}


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
