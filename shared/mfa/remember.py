"""Remembered (trusted) devices: a random token, stored hashed, bound to user and tenant,
revocable; one chain per browser, shown to the user with a label, times and network (the label
and the network as shared.http.caller makes them, like the audit trail's).

The token rotates on every use: the used one is marked rotated (kept, so that it is known) and
a new one of the same chain is issued, with the chain's expiry (using a device never extends
it). A rotated-out token presented again (later than REUSE_GRACE after its rotation) means two
browsers hold the chain, so one copy was stolen: the whole chain is revoked and the caller
audits it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from shared.clock import Clock
from shared.crypto import new_token, token_hash
from shared.events.audit import AuditEvent, AuditLog
from shared.stores.database import Database

# A rotated-out token presented within this many seconds of its rotation is a duplicate of the
# same browser's request (two tabs, a retry), answered "not remembered" without revoking.
REUSE_GRACE = 5


@dataclass(frozen=True)
class Use:
    """What presenting a token gave: valid or not, the rotated token for the cookie and its
    seconds left, and whether it was a reuse of a rotated-out token (the chain is revoked)."""

    valid: bool
    token: str | None = None
    max_age: int = 0
    reused: bool = False
    revoked: int = 0


class RememberedDevices:
    """Issue, use (rotating), list and revoke remember-device tokens."""

    def __init__(self, db: Database, clock: Clock, audit: AuditLog) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit

    async def issue(self, tenant_id: str, user_id: str, ttl: int, *, label: str = "",
                    network: str = "") -> str:
        """A new token (a new chain) valid for ttl seconds."""
        token = new_token()
        now = self._clock.time()
        await self._db.execute(
            "INSERT INTO remembered_devices (token_hash, tenant_id, user_id, expires_at, "
            "created_at, chain_id, label, network, last_used_at) "
            "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$5)", token_hash(token), tenant_id, user_id,
            now + ttl, now, str(uuid.uuid4()), label[:64], network)
        return token

    async def use(self, token: str, tenant_id: str, user_id: str, *,
                  network: str | None = None) -> Use:
        """Present a token: a live, current token of this user is rotated (one winner among
        parallel uses); a rotated-out one revokes its whole chain."""
        now = self._clock.time()
        row = await self._db.fetchrow(
            "SELECT tenant_id, user_id, expires_at, created_at, chain_id, label, network, "
            "rotated_at FROM remembered_devices WHERE token_hash = $1", token_hash(token))
        if (row is None or row["tenant_id"] != tenant_id or row["user_id"] != user_id
                or row["expires_at"] <= now):
            return Use(valid=False)
        if row["rotated_at"] is not None:
            if now - row["rotated_at"] < REUSE_GRACE:
                return Use(valid=False)  # a parallel duplicate of the use that rotated it
            revoked = await self._db.execute(
                "DELETE FROM remembered_devices WHERE chain_id = $1 AND rotated_at IS NULL",
                row["chain_id"])
            return Use(valid=False, reused=True, revoked=revoked)
        fresh = new_token()
        async with self._db.transaction() as tx:
            if await tx.execute(
                    "UPDATE remembered_devices SET rotated_at = $2 "
                    "WHERE token_hash = $1 AND rotated_at IS NULL", token_hash(token), now) != 1:
                return Use(valid=False)  # a parallel use rotated it first
            await tx.execute(
                "INSERT INTO remembered_devices (token_hash, tenant_id, user_id, expires_at, "
                "created_at, chain_id, label, network, last_used_at) "
                "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)", token_hash(fresh), tenant_id, user_id,
                row["expires_at"], row["created_at"], row["chain_id"], row["label"],
                network if network is not None else row["network"], now)
        return Use(valid=True, token=fresh, max_age=int(row["expires_at"] - now))

    async def list_for_user(self, tenant_id: str, user_id: str) -> list[dict[str, Any]]:
        """The user's live trusted devices, one per chain, most recently used first."""
        return await self._db.fetch(
            "SELECT chain_id, label, network, created_at, last_used_at, expires_at "
            "FROM remembered_devices WHERE tenant_id = $1 AND user_id = $2 "
            "AND rotated_at IS NULL AND expires_at > $3 ORDER BY last_used_at DESC, chain_id",
            tenant_id, user_id, self._clock.time())

    async def revoke(self, tenant_id: str, user_id: str, chain_id: str) -> bool:
        """Forget one trusted device (its whole chain, rotated-out tokens too), audited (and
        raised as an outbox event) with the deletion; False when it is not a live device of
        the user."""
        return await self._audit.with_change(
            "DELETE FROM remembered_devices WHERE tenant_id = $1 AND user_id = $2 "
            "AND chain_id = $3 AND EXISTS (SELECT 1 FROM remembered_devices l WHERE "
            "l.tenant_id = $1 AND l.user_id = $2 AND l.chain_id = $3 AND l.rotated_at IS NULL)",
            (tenant_id, user_id, chain_id),
            AuditEvent(tenant_id, user_id, "remember", "remembered-revoke", "success",
                       detail={"devices": 1, "by": "user"}))

    async def revoke_all(self, tenant_id: str, user_id: str,
                         detail: dict[str, Any] | None = None) -> bool:
        """Forget every remembered device of the user (their factors changed, or they asked);
        when there were any, audited (and raised as an outbox event) with the deletion,
        atomically."""
        return await self._audit.with_change(
            "DELETE FROM remembered_devices WHERE tenant_id = $1 AND user_id = $2",
            (tenant_id, user_id),
            AuditEvent(tenant_id, user_id, "remember", "remembered-revoke", "success",
                       detail=detail or {}))
