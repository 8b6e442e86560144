"""The device repository: every enrolled factor of every user (durable)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from shared.events.audit import AuditEvent, AuditLog, TokenUse
from shared.http.errors import Conflict
from shared.mfa.registry import is_mfa_device
from shared.stores.database import Database, Executor, Row


class TooManyDevices(Conflict):
    """The user holds as many credentials of this kind as the deployment allows (the
    registry's cap, MFA_MAX_<KIND>_PER_USER)."""

    code = "ER-MFA-TOO-MANY-DEVICES"
    default_message = ("This account has the most credentials of this kind allowed: "
                       "remove one first")


@dataclass(frozen=True)
class Device:
    """One enrolled factor: an authenticator app, a phone or a WebAuthn credential."""

    id: str
    tenant_id: str
    user_id: str
    kind: str
    created_at: float
    name: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    secret: str | None = None
    lookup: str | None = None
    last_step: int = -1
    sign_count: int = 0
    last_used_at: float | None = None
    drift: int = 0  # TOTP: the clock offset in time steps learned from accepted codes

    def aad(self) -> str:
        """Associated data that binds this device's ciphertext to tenant, user and device."""
        return device_aad(self.tenant_id, self.user_id, self.id)


def device_aad(tenant_id: str, user_id: str, device_id: str) -> str:
    """AES-GCM associated data for a device secret."""
    return f"{tenant_id}\x00{user_id}\x00{device_id}"


def new_device_id() -> str:
    """A fresh device id."""
    return str(uuid.uuid4())


def _device(row: Row) -> Device:
    return Device(**{**row, "data": json.loads(row["data"] or "{}")})


_COLS = ("id, tenant_id, user_id, kind, name, data, secret, lookup, last_step, sign_count, "
         "created_at, last_used_at, drift")
_INSERT = (f"INSERT INTO mfa_devices ({_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,"
           "$13)")
# Taken first by every capped insert and every removal path: a transaction-scoped advisory
# lock on the user (its own key space: the two-int form), so parallel enrollments and resets
# of one user take turns (a cap holds under any number of parallel requests, and parallel
# resets each count what they removed). SQLite runs one transaction at a time anyway.
_LOCK_USER = "SELECT pg_advisory_xact_lock(7311, hashtext($1 || '/' || $2)) IS NULL AS nil"


async def lock_user(db: Database, tx: Executor, tenant_id: str, user_id: str) -> None:
    """Hold the user's credential lock until `tx` (a transaction of `db`) ends."""
    if db.dialect == "postgres":
        await tx.fetchrow(_LOCK_USER, tenant_id, user_id)
_COUNT = ("SELECT COUNT(*) AS n FROM mfa_devices WHERE tenant_id = $1 AND user_id = $2 "
          "AND kind = $3")


class DeviceRepository:
    """CRUD and the atomic updates that make one-time values one-time."""

    def __init__(self, db: Database, caps: dict[str, int] | None = None) -> None:
        self._db = db
        self._caps = caps or {}

    async def list_for_user(self, tenant_id: str, user_id: str,
                            kind: str | None = None, *, every: bool = False) -> list[Device]:
        """A user's devices of one kind, or (no kind) their MFA factors, oldest first. Passkeys
        (a first factor, listed apart as on Frontegg) are only listed by their kind, or with
        `every` (every stored credential: what operators see and a reset removes)."""
        rows = await self._db.fetch(
            f"SELECT {_COLS} FROM mfa_devices WHERE tenant_id = $1 AND user_id = $2 "
            "ORDER BY created_at, id", tenant_id, user_id)
        devices = [_device(r) for r in rows]
        return [d for d in devices
                if every or d.kind == kind or kind is None and is_mfa_device(d.kind)]

    async def ensure_room(self, tenant_id: str, user_id: str, kind: str) -> None:
        """409 ER-MFA-TOO-MANY-DEVICES when the user is at the kind's cap (the check before a
        ceremony starts; the insert checks again, atomically)."""
        cap = self._caps.get(kind, 0)
        if cap and int((await self._db.fetchrow(_COUNT, tenant_id, user_id, kind) or {})
                       .get("n", 0)) >= cap:
            raise TooManyDevices()

    async def get(self, tenant_id: str, user_id: str, device_id: str) -> Device | None:
        """A device of this user; another user's device is None, like an unknown one."""
        row = await self._db.fetchrow(
            f"SELECT {_COLS} FROM mfa_devices WHERE id = $1 AND tenant_id = $2 AND user_id = $3",
            device_id, tenant_id, user_id)
        return None if row is None else _device(row)

    async def find_by_lookup(self, kind: str, lookup: str) -> Device | None:
        """A device by its kind-specific unique key (e.g. a WebAuthn credential id)."""
        row = await self._db.fetchrow(
            f"SELECT {_COLS} FROM mfa_devices WHERE kind = $1 AND lookup = $2", kind, lookup)
        return None if row is None else _device(row)

    async def add(self, d: Device) -> None:
        """Insert a new device; 409 ER-MFA-TOO-MANY-DEVICES at its kind's cap."""
        await self._insert(d, if_absent=False)

    async def add_if_absent(self, d: Device) -> bool:
        """Insert a device unless one with its id (or its unique lookup) exists: True when
        inserted (imports run twice add nothing the second time); over the cap, 409."""
        return await self._insert(d, if_absent=True)

    async def _insert(self, d: Device, *, if_absent: bool) -> bool:
        args = (d.id, d.tenant_id, d.user_id, d.kind, d.name, json.dumps(d.data), d.secret,
                d.lookup, d.last_step, d.sign_count, d.created_at, d.last_used_at, d.drift)
        sql = _INSERT + (" ON CONFLICT DO NOTHING" if if_absent else "")
        cap = self._caps.get(d.kind, 0)
        if not cap:
            return await self._db.execute(sql, *args) == 1
        async with self._db.transaction() as tx:
            await lock_user(self._db, tx, d.tenant_id, d.user_id)
            row = await tx.fetchrow(_COUNT, d.tenant_id, d.user_id, d.kind)
            if row is not None and int(row["n"]) >= cap:
                if if_absent and await tx.fetchrow(
                        "SELECT id FROM mfa_devices WHERE id = $1", d.id) is not None:
                    return False  # the same import again: nothing new
                raise TooManyDevices()
            return await tx.execute(sql, *args) == 1

    async def rename(self, tenant_id: str, user_id: str, device_id: str, name: str) -> bool:
        """Set the user's name for one of their devices; False when it is not theirs."""
        return await self._db.execute(
            "UPDATE mfa_devices SET name = $4 WHERE id = $1 AND tenant_id = $2 AND user_id = $3",
            device_id, tenant_id, user_id, name) == 1

    async def delete(self, tenant_id: str, user_id: str, device_id: str) -> bool:
        """Remove one of the user's devices."""
        return await self._db.execute(
            "DELETE FROM mfa_devices WHERE id = $1 AND tenant_id = $2 AND user_id = $3",
            device_id, tenant_id, user_id) == 1

    async def delete_all(self, tenant_id: str, user_id: str) -> int:
        """Remove every stored credential of the user (MFA devices and passkeys)."""
        return await self._db.execute(
            "DELETE FROM mfa_devices WHERE tenant_id = $1 AND user_id = $2", tenant_id, user_id)

    async def advance_step(self, device_id: str, step: int, now: float, *,
                           audit: AuditLog, event: AuditEvent, drift: int = 0,
                           use: TokenUse | None = None) -> bool:
        """Accept a TOTP time step only if it is newer than the last accepted one (one winner,
        RFC 6238 section 5.2), learn the clock `drift` it shows, and write the success's
        audit row with it (and the mfaToken's `use`), atomically (still one statement)."""
        return await audit.with_change(
            "UPDATE mfa_devices SET last_step = $2, last_used_at = $3, drift = $4 "
            "WHERE id = $1 AND last_step < $2", (device_id, step, now, drift), event, use=use)

    async def update_sign_count(self, device_id: str, expected: int, new: int, now: float) -> bool:
        """Compare-and-set the WebAuthn counter; False when another request moved it first."""
        return await self._db.execute(
            "UPDATE mfa_devices SET sign_count = $3, last_used_at = $4 "
            "WHERE id = $1 AND sign_count = $2", device_id, expected, new, now) == 1

    async def touch(self, device_id: str, now: float) -> None:
        """Record a use."""
        await self._db.execute("UPDATE mfa_devices SET last_used_at = $2 WHERE id = $1",
                               device_id, now)
