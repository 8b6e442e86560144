"""The security-event webhook dispatcher: delivers outbox events (shared.events.outbox) to the
configured endpoints, signed like every webhook of this service (shared.events.signing), with
retries and exponential backoff, in order per user, and marks them delivered.

Delivery is at least once: an endpoint that took an event but whose answer was lost gets it
again, with the same `X-MFA-Message-Id` (the event id), which a receiver deduplicates on.
Before it posts, a dispatcher leases the event (pushes its retry time `lease` seconds ahead
with a compare-and-set), so two dispatchers (two operators replicas) never post the same event
at once, and a user's later events wait while an earlier one is leased or backing off."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import aiohttp
from opentelemetry.trace import SpanKind

from shared.clock import Clock
from shared.events.outbox import Outbox, OutboxEvent, run_forever
from shared.events.signing import signed_request
from shared.http import tracing
from shared.http.metrics import WEBHOOK_BACKLOG, WEBHOOK_OLDEST, event_handled
from shared.stores.database import Database

log = logging.getLogger("mfa.webhooks")
EVENT_TYPE_HEADER = "X-MFA-Event-Type"
BACKLOG_EVERY = 15.0  # seconds between two reads of the backlog gauges


@dataclass(frozen=True)
class WebhookConfig:
    """Endpoints, the HMAC key, and the timing of deliveries."""

    urls: tuple[str, ...]
    secret: str
    timeout: float = 5.0
    poll: float = 1.0
    lease: float = 30.0
    backoff_base: float = 1.0
    backoff_cap: float = 600.0
    batch: int = 100

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed ones: 1, 2, 4, ... capped."""
        return float(min(self.backoff_cap, self.backoff_base * 2 ** max(0, attempts)))


class WebhookDispatcher:
    """Delivers pending outbox events, a batch at a time."""

    def __init__(self, db: Database, clock: Clock, http: aiohttp.ClientSession,
                 cfg: WebhookConfig) -> None:
        self._db = db
        self._outbox = Outbox(db, clock)
        self._clock = clock
        self._http = http
        self._cfg = cfg
        self._backlog_read_at = float("-inf")

    async def _lease(self, e: OutboxEvent) -> bool:
        now = self._clock.time()
        return await self._db.execute(
            "UPDATE outbox_events SET next_attempt_at = $2 WHERE id = $1 AND "
            "delivered_at IS NULL AND next_attempt_at <= $3", e.id, now + self._cfg.lease,
            now) == 1

    async def _post(self, url: str, e: OutboxEvent) -> str | None:
        """None when the endpoint took the event, else why not (no payload in it)."""
        raw, headers = signed_request(self._cfg.secret, e.payload, message_id=e.id,
                                      timestamp=int(self._clock.time()))
        headers[EVENT_TYPE_HEADER] = e.type
        try:
            async with self._http.post(url, data=raw, headers=headers, allow_redirects=False,
                                       timeout=aiohttp.ClientTimeout(total=self._cfg.timeout)
                                       ) as r:
                return None if 200 <= r.status < 300 else f"HTTP {r.status}"
        except TimeoutError:
            return "timeout"
        except aiohttp.ClientError as err:
            return err.__class__.__name__

    async def deliver(self, e: OutboxEvent) -> bool:
        """Post one leased event to every endpoint; delivered, or scheduled again (a span per
        event with tracing on; its POSTs carry traceparent)."""
        with tracing.span("webhook.deliver", SpanKind.PRODUCER,
                          **{"mfa.event.type": e.type, "mfa.event.id": e.id}):
            return await self._deliver(e)

    async def _deliver(self, e: OutboxEvent) -> bool:
        for url in self._cfg.urls:
            error = await self._post(url, e)
            if error is not None:
                delay = self._cfg.backoff(e.attempts)
                await self._outbox.retry_later(e.id, delay, error)
                event_handled("webhook", "failed")
                log.warning("webhook delivery failed", extra={"fields": {
                    "eventId": e.id, "type": e.type, "error": error, "attempt": e.attempts + 1,
                    "retryIn": delay}})
                return False
        await self._outbox.mark_delivered(e.id)
        event_handled("webhook", "delivered")
        return True

    async def measure_backlog(self) -> None:
        """Set the backlog gauges (count, age of the oldest), at most every BACKLOG_EVERY s."""
        now = self._clock.time()
        if now - self._backlog_read_at < BACKLOG_EVERY:
            return
        self._backlog_read_at = now
        count, oldest = await self._outbox.backlog()
        WEBHOOK_BACKLOG.set(count)
        WEBHOOK_OLDEST.set(max(0.0, now - oldest) if oldest is not None else 0)

    async def run_once(self) -> int:
        """One batch, oldest first; a user whose event failed gets no later one in this
        batch. The number delivered."""
        await self.measure_backlog()
        delivered, held = 0, set()
        for e in await self._outbox.undelivered(self._cfg.batch):
            user = (e.tenant_id, e.user_id)
            if user in held or not await self._lease(e):
                held.add(user)
                continue
            if await self.deliver(e):
                delivered += 1
            else:
                held.add(user)
        return delivered

    async def run(self) -> None:
        """Forever (shared.events.outbox.run_forever)."""
        await run_forever(self.run_once, poll=self._cfg.poll, log=log, what="webhook dispatcher")
