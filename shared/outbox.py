"""The outbox of security events (written by shared.audit with their audit rows): read in
order by the webhook dispatcher and the notifier, which mark what they have done."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.clock import Clock
from shared.database import Database, Row

_COLS = "id, at, tenant_id, user_id, type, payload, attempts"


@dataclass(frozen=True)
class OutboxEvent:
    """One event to deliver: its id (the audit row's), type and JSON payload."""

    id: str
    at: float
    tenant_id: str
    user_id: str
    type: str
    payload: dict[str, Any]
    attempts: int = 0


def _event(row: Row) -> OutboxEvent:
    return OutboxEvent(**{**row, "payload": json.loads(row["payload"])})


class Outbox:
    """Reads pending events oldest first and records deliveries."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        # Postgres orders by the bigserial; SQLite has no sequences and uses its rowid.
        self._order = "seq" if db.dialect == "postgres" else "rowid"

    async def undelivered(self, limit: int = 100) -> list[OutboxEvent]:
        """Events no webhook has taken yet whose retry time has come, oldest first; an event
        of a user with an earlier event still waiting is held back (order per user)."""
        rows = await self._db.fetch(
            f"SELECT {_COLS} FROM outbox_events o WHERE delivered_at IS NULL "
            "AND next_attempt_at <= $1 AND NOT EXISTS (SELECT 1 FROM outbox_events p WHERE "
            "p.delivered_at IS NULL AND p.tenant_id = o.tenant_id AND p.user_id = o.user_id "
            f"AND p.{self._order} < o.{self._order} AND p.next_attempt_at > $1) "
            f"ORDER BY {self._order} LIMIT $2", self._clock.time(), limit)
        return [_event(r) for r in rows]

    async def mark_delivered(self, event_id: str) -> None:
        """Every endpoint took the event."""
        await self._db.execute(
            "UPDATE outbox_events SET delivered_at = $2, last_error = NULL WHERE id = $1",
            event_id, self._clock.time())

    async def retry_later(self, event_id: str, delay: float, error: str) -> None:
        """A delivery failed: count it and try again after `delay` seconds."""
        await self._db.execute(
            "UPDATE outbox_events SET attempts = attempts + 1, next_attempt_at = $2, "
            "last_error = $3 WHERE id = $1", event_id, self._clock.time() + delay, error[:200])

    async def unnotified(self, limit: int = 100) -> list[OutboxEvent]:
        """Events whose user notification is not done yet, oldest first."""
        rows = await self._db.fetch(
            f"SELECT {_COLS} FROM outbox_events WHERE notified_at IS NULL "
            f"ORDER BY {self._order} LIMIT $1", limit)
        return [_event(r) for r in rows]

    async def mark_notified(self, event_id: str) -> None:
        """The notification was sent (or needs none)."""
        await self._db.execute("UPDATE outbox_events SET notified_at = $2 WHERE id = $1",
                               event_id, self._clock.time())

    async def for_user(self, tenant_id: str, user_id: str) -> list[OutboxEvent]:
        """A user's events in order (tests and support)."""
        rows = await self._db.fetch(
            f"SELECT {_COLS} FROM outbox_events WHERE tenant_id = $1 AND user_id = $2 "
            f"ORDER BY {self._order}", tenant_id, user_id)
        return [_event(r) for r in rows]
