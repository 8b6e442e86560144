"""Append-only audit trail: one row per enroll, verify, failure, lockout, disable, recovery."""

from __future__ import annotations

import json
import uuid
from typing import Any

from shared.clock import Clock
from shared.database import Database
from shared.logs import request_id_var


class AuditLog:
    """Writes audit rows; never codes, secrets, tokens, phone numbers or emails."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def record(self, *, tenant_id: str, user_id: str, factor: str, action: str,
                     outcome: str, device_id: str | None = None,
                     detail: dict[str, Any] | None = None) -> None:
        """Append one event."""
        await self._db.execute(
            "INSERT INTO audit_events (id, at, tenant_id, user_id, factor, action, outcome, "
            "device_id, request_id, detail) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
            str(uuid.uuid4()), self._clock.time(), tenant_id, user_id, factor, action, outcome,
            device_id, request_id_var.get(), json.dumps(detail or {}))

    async def for_user(self, tenant_id: str, user_id: str) -> list[dict[str, Any]]:
        """A user's events, oldest first (tests and support)."""
        return await self._db.fetch(
            "SELECT factor, action, outcome, device_id, detail FROM audit_events "
            "WHERE tenant_id = $1 AND user_id = $2 ORDER BY at, id", tenant_id, user_id)
