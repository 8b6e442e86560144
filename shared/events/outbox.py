"""The outbox of security events (written by shared.events.audit with their audit rows): read in
order by the webhook dispatcher and the notifier, which mark what they have done."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from shared.clock import Clock
from shared.events.retention import prune_outbox
from shared.stores.database import Database, Row

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

    async def backlog(self) -> tuple[int, float | None]:
        """Events no webhook has taken yet, and when the oldest of them happened."""
        row = await self._db.fetchrow(
            "SELECT count(*) AS n, min(at) AS oldest FROM outbox_events "
            "WHERE delivered_at IS NULL")
        return (int(row["n"]), row["oldest"]) if row is not None else (0, None)

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

    # notified_at: NULL = to do; negative = leased by a notifier until -notified_at; positive
    # = done. The lease keeps two email replicas from mailing one event twice, and lets the
    # event be taken again when the notifier that leased it died.
    async def unnotified(self, limit: int = 100) -> list[OutboxEvent]:
        """Events whose user notification is not done (nor leased), oldest first."""
        rows = await self._db.fetch(
            f"SELECT {_COLS} FROM outbox_events WHERE notified_at IS NULL OR "
            f"(notified_at < 0 AND -notified_at <= $1) ORDER BY {self._order} LIMIT $2",
            self._clock.time(), limit)
        return [_event(r) for r in rows]

    async def lease_notification(self, event_id: str, seconds: float) -> bool:
        """Take the event's notification for `seconds` (one winner)."""
        now = self._clock.time()
        return await self._db.execute(
            "UPDATE outbox_events SET notified_at = $2 WHERE id = $1 AND "
            "(notified_at IS NULL OR (notified_at < 0 AND -notified_at <= $3))",
            event_id, -(now + seconds), now) == 1

    async def release_notification(self, event_id: str) -> None:
        """Sending failed: leave it to the next round."""
        await self._db.execute("UPDATE outbox_events SET notified_at = NULL WHERE id = $1 "
                               "AND notified_at < 0", event_id)

    async def mark_notified(self, event_id: str) -> None:
        """The notification was sent (or needs none)."""
        await self._db.execute("UPDATE outbox_events SET notified_at = $2 WHERE id = $1",
                               event_id, self._clock.time())

    async def prune(self, before: float, *, webhooks: bool, notifications: bool) -> int:
        """Delete events older than `before` that every configured consumer is done with
        (`webhooks`/`notifications`: whether that consumer runs), in batches
        (shared.events.retention); the audit rows stay."""
        return await prune_outbox(self._db, before, webhooks=webhooks,
                                  notifications=notifications)

    async def for_user(self, tenant_id: str, user_id: str) -> list[OutboxEvent]:
        """A user's events in order (tests and support)."""
        rows = await self._db.fetch(
            f"SELECT {_COLS} FROM outbox_events WHERE tenant_id = $1 AND user_id = $2 "
            f"ORDER BY {self._order}", tenant_id, user_id)
        return [_event(r) for r in rows]


async def run_forever(run_once: Callable[[], Awaitable[int]], *, poll: float,
                      log: logging.Logger, what: str) -> None:
    """A consumer's loop: batches while there is work, a pause when there was none; store
    faults are logged and retried, never fatal."""
    while True:
        try:
            if await run_once():
                continue
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - the loop must outlive a store outage
            log.warning(f"{what} paused", extra={"fields": {"error": err.__class__.__name__}})
        await asyncio.sleep(poll)
