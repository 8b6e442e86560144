"""Remembered devices: a random token, stored hashed, bound to user and tenant, revocable."""

from __future__ import annotations

from typing import Any

from shared.audit import AuditEvent, AuditLog
from shared.clock import Clock
from shared.crypto import new_token, token_hash
from shared.database import Database


class RememberedDevices:
    """Issue, check and revoke remember-device tokens."""

    def __init__(self, db: Database, clock: Clock, audit: AuditLog) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit

    async def issue(self, tenant_id: str, user_id: str, ttl: int) -> str:
        """A new token valid for ttl seconds."""
        token = new_token()
        now = self._clock.time()
        await self._db.execute(
            "INSERT INTO remembered_devices (token_hash, tenant_id, user_id, expires_at, "
            "created_at) VALUES ($1,$2,$3,$4,$5)", token_hash(token), tenant_id, user_id,
            now + ttl, now)
        return token

    async def is_valid(self, token: str, tenant_id: str, user_id: str) -> bool:
        """True when the token is live and belongs to this user of this tenant."""
        row = await self._db.fetchrow(
            "SELECT tenant_id, user_id, expires_at FROM remembered_devices WHERE token_hash = $1",
            token_hash(token))
        return bool(row and row["tenant_id"] == tenant_id and row["user_id"] == user_id
                    and row["expires_at"] > self._clock.time())

    async def revoke_all(self, tenant_id: str, user_id: str,
                         detail: dict[str, Any] | None = None) -> bool:
        """Forget every remembered device of the user (their factors changed); when there
        were any, audited (and raised as an outbox event) with the deletion, atomically."""
        return await self._audit.with_change(
            "DELETE FROM remembered_devices WHERE tenant_id = $1 AND user_id = $2",
            (tenant_id, user_id),
            AuditEvent(tenant_id, user_id, "remember", "remembered-revoke", "success",
                       detail=detail or {}))
