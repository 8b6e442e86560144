"""Append-only audit trail: one row per enroll, verify, failure, lockout, disable, recovery."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from shared.clock import Clock
from shared.database import Database
from shared.logs import request_id_var

_COLS = "id, at, tenant_id, user_id, factor, action, outcome, device_id, request_id, detail"
_INSERT = f"INSERT INTO audit_events ({_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)"


@dataclass(frozen=True)
class AuditEvent:
    """One audit row, before it is written."""

    tenant_id: str
    user_id: str
    factor: str
    action: str
    outcome: str
    device_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class AuditLog:
    """Writes audit rows; never codes, secrets, tokens, phone numbers or emails."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def _values(self, e: AuditEvent) -> tuple[Any, ...]:
        return (str(uuid.uuid4()), self._clock.time(), e.tenant_id, e.user_id, e.factor,
                e.action, e.outcome, e.device_id, request_id_var.get(), json.dumps(e.detail))

    async def record(self, *, tenant_id: str, user_id: str, factor: str, action: str,
                     outcome: str, device_id: str | None = None,
                     detail: dict[str, Any] | None = None) -> None:
        """Append one event."""
        await self.write(AuditEvent(tenant_id, user_id, factor, action, outcome, device_id,
                                    detail or {}))

    async def write(self, event: AuditEvent) -> None:
        """Append one prepared event."""
        await self._db.execute(_INSERT, *self._values(event))

    async def with_change(self, sql: str, args: tuple[Any, ...], event: AuditEvent) -> bool:
        """Run a conditional change and append `event` only if it touched a row, atomically
        (one statement on Postgres, one transaction on SQLite); True when it did."""
        values = self._values(event)
        if self._db.dialect == "postgres":
            n = len(args)
            marks = ",".join(f"${n + i}" + ("::double precision" if i == 2 else "")
                             for i in range(1, 11))  # a SELECT list types its parameters text
            return await self._db.execute(
                f"WITH changed AS ({sql} RETURNING 1) INSERT INTO audit_events ({_COLS}) "
                f"SELECT {marks} FROM changed", *args, *values) == 1
        async with self._db.transaction() as tx:
            if await tx.execute(sql, *args) != 1:
                return False
            await tx.execute(_INSERT, *values)
            return True

    async def for_user(self, tenant_id: str, user_id: str) -> list[dict[str, Any]]:
        """A user's events, oldest first (tests and support)."""
        return await self._db.fetch(
            "SELECT factor, action, outcome, device_id, detail FROM audit_events "
            "WHERE tenant_id = $1 AND user_id = $2 ORDER BY at, id", tenant_id, user_id)
