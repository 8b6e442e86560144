"""Security-event webhooks: a real receiver process, killed mid-stream (once by itself after
logging an event it never answered, once by SIGKILL), still ends with every event exactly once
in its deduplicated log, in order per user; on Postgres and SQLite."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bench.procs import free_port
from services.operators.webhooks import WebhookConfig, WebhookDispatcher
from shared.clock import FrozenClock
from shared.events.audit import AuditLog
from shared.events.signing import signed_request, verify
from shared.stores.database import Database, connect
from shared.stores.migrate import migrate
from tests.conftest import PG_ADMIN, pg_admin
from tests.support.http import receiver, wait_http_ok
from tests.support.webhook_receiver import make_app

SECRET = "receiver-secret-0123456789"
ROOT = Path(__file__).resolve().parents[2]


class Receiver:
    """tests/support/webhook_receiver.py as a process on a fixed port, restartable."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        """Where events go."""
        return f"http://127.0.0.1:{self.port}/events"

    async def start(self, die_after: int = 0) -> None:
        """Start it and wait until it answers."""
        env = {**os.environ, "MFA_RECEIVER_DIE_AFTER": str(die_after), "PYTHONPATH": str(ROOT)}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.support.webhook_receiver", str(self.port), SECRET,
            str(self.log_dir), env=env, cwd=ROOT)
        proc = self.proc
        await wait_http_ok(f"http://127.0.0.1:{self.port}/ready", what="the receiver",
                           alive=lambda: None if proc.returncode is None else "receiver died")

    def running(self) -> bool:
        """Whether the process is alive."""
        return self.proc is not None and self.proc.returncode is None

    async def kill(self) -> None:
        """SIGKILL, and reap it."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            await self.proc.wait()

    def log(self, name: str = "events.jsonl") -> list[dict[str, Any]]:
        """Its deduplicated log (or the raw one)."""
        path = self.log_dir / name
        return [json.loads(line) for line in path.read_text().splitlines()] \
            if path.exists() else []


@pytest.fixture(params=["sqlite", "postgres"])
async def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database of this test's own, migrated (no other test's events in its outbox)."""
    if request.param == "sqlite":
        db = await connect(f"sqlite:///{tmp_path}/w.sqlite3")
        await migrate(db, "up")
        yield db
        await db.close()
        return
    request.getfixturevalue("pg_url")  # skips (or fails, strict) without Postgres
    name = f"mfa_hook_{uuid.uuid4().hex[:8]}"
    await pg_admin(f"CREATE DATABASE {name}")
    db = await connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
    try:
        await migrate(db, "up")
        yield db
    finally:
        await db.close()
        await pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def _events(audit: AuditLog, users: list[str], per_user: int) -> list[tuple[str, str]]:
    """Interleaved events of several users; (user, event id) in creation order."""
    for i in range(per_user):
        for u in users:
            await audit.record(tenant_id="t-hooks", user_id=u, factor="totp",
                               action="enroll" if i % 2 == 0 else "disable",
                               outcome="success", device_id=f"d-{i}")
    rows = await audit._db.fetch(  # noqa: SLF001 - the test reads what it wrote
        "SELECT id, user_id FROM outbox_events ORDER BY " +
        ("seq" if audit._db.dialect == "postgres" else "rowid"))  # noqa: SLF001
    return [(r["user_id"], r["id"]) for r in rows]


async def _pending(db: Database) -> list[Any]:
    return await db.fetch("SELECT id FROM outbox_events WHERE delivered_at IS NULL")


async def test_every_event_reaches_a_killed_receiver_exactly_once_in_order_per_user(
        fresh_db: Database, tmp_path: Path) -> None:
    clock = FrozenClock()
    written = await _events(AuditLog(fresh_db, clock), ["u-a", "u-b", "u-c"], per_user=8)
    receiver = Receiver(tmp_path)
    await receiver.start(die_after=5)
    cfg = WebhookConfig(urls=(receiver.url,), secret=SECRET, timeout=5, batch=4)
    killed_by_signal = False
    try:
        async with aiohttp.ClientSession() as http:
            dispatcher = WebhookDispatcher(fresh_db, clock, http, cfg)
            for _ in range(200):
                if not await _pending(fresh_db):
                    break
                await dispatcher.run_once()
                if not receiver.running():
                    await receiver.kill()  # reap the one that exited mid-request
                    await receiver.start()
                elif not killed_by_signal and len(receiver.log()) >= 12:
                    await receiver.kill()  # SIGKILL between two deliveries
                    killed_by_signal = True
                    await dispatcher.run_once()  # fails: nobody listens; backs off
                    await receiver.start()
                clock.advance(cfg.backoff_cap + cfg.lease)  # retries and leases come due
    finally:
        await receiver.kill()
    log = receiver.log()
    assert sorted(e["id"] for e in log) == sorted(eid for _, eid in written), "exactly once"
    for user in ("u-a", "u-b", "u-c"):
        assert [e["id"] for e in log if e["userId"] == user] == [
            eid for u, eid in written if u == user], f"{user}'s events out of order"
    assert killed_by_signal
    raw = receiver.log("raw.jsonl")
    assert len(raw) > len(log), "the unanswered delivery was retried and deduplicated"
    assert await _pending(fresh_db) == []


async def test_a_refusing_endpoint_gets_retries_with_growing_backoff(
        fresh_db: Database, tmp_path: Path) -> None:
    clock = FrozenClock()
    await _events(AuditLog(fresh_db, clock), ["u-a"], per_user=2)
    received: list[tuple[str, str, bool]] = []

    async def refuse(request: web.Request) -> web.Response:
        raw = await request.read()
        received.append((request.headers["X-MFA-Message-Id"],
                         request.headers["X-MFA-Timestamp"], verify(SECRET, raw, request.headers)))
        return web.json_response({}, status=503)

    async with receiver(refuse) as url, aiohttp.ClientSession() as http:
        cfg = WebhookConfig(urls=(url,), secret=SECRET)
        dispatcher = WebhookDispatcher(fresh_db, clock, http, cfg)
        assert await dispatcher.run_once() == 0
        assert await dispatcher.run_once() == 0, "backing off: nothing is due"
        clock.advance(cfg.backoff(0))
        await dispatcher.run_once()
    first = received[0][0]
    assert [r[0] for r in received] == [first, first], "the user's second event waits"
    assert all(signed for _, _, signed in received)
    [row] = await fresh_db.fetch("SELECT attempts, last_error, next_attempt_at FROM "
                                 "outbox_events WHERE id = $1", first)
    assert (row["attempts"], row["last_error"]) == (2, "HTTP 503")
    assert row["next_attempt_at"] == clock.time() + cfg.backoff(1)


async def test_a_consumer_loop_outlives_a_store_fault() -> None:
    import logging

    from shared.events.outbox import run_forever

    calls: list[str] = []
    done = asyncio.Event()

    async def once() -> int:
        calls.append("x")
        if len(calls) == 1:
            raise ConnectionError("database down")
        done.set()
        return 0

    task = asyncio.create_task(run_forever(once, poll=0, log=logging.getLogger("t"),
                                           what="test"))
    await asyncio.wait_for(done.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) >= 2


async def test_two_dispatchers_at_once_post_each_event_once(fresh_db: Database) -> None:
    from prometheus_client import REGISTRY

    clock = FrozenClock()
    written = await _events(AuditLog(fresh_db, clock), [f"u-{i}" for i in range(6)], 3)
    posted: list[str] = []

    async def take(request: web.Request) -> web.Response:
        posted.append(request.headers["X-MFA-Message-Id"])
        await asyncio.sleep(0)  # let the other dispatcher run meanwhile
        return web.json_response({})

    before = REGISTRY.get_sample_value("mfa_security_events_total",
                                       {"consumer": "webhook", "outcome": "delivered"}) or 0
    async with receiver(take) as url, aiohttp.ClientSession() as http:
        cfg = WebhookConfig(urls=(url,), secret=SECRET, batch=50)
        a, b = (WebhookDispatcher(fresh_db, clock, http, cfg) for _ in range(2))
        while await _pending(fresh_db):
            await asyncio.gather(a.run_once(), b.run_once())
    assert sorted(posted) == sorted(eid for _, eid in written), "each event posted once"
    after = REGISTRY.get_sample_value("mfa_security_events_total",
                                      {"consumer": "webhook", "outcome": "delivered"})
    assert after == before + len(written)


async def test_the_receiver_refuses_a_replay_under_fresh_headers(aiohttp_server: Any,
                                                                 tmp_path: Path) -> None:
    """The review's L2: the timestamp and id headers are signed, so a captured delivery sent
    again later with a new X-MFA-Timestamp or X-MFA-Message-Id fails the signature, and sent
    as it was it is stale (or a duplicate)."""
    server = await aiohttp_server(make_app(SECRET, tmp_path, die_after=0))
    url = str(server.make_url("/events"))
    now = int(time.time())
    event = {"type": "mfa.reset", "tenantId": "t-1", "userId": "u-1"}
    raw, headers = signed_request(SECRET, event, message_id="e-1", timestamp=now)
    async with aiohttp.ClientSession() as http:
        async def post(h: dict[str, str]) -> int:
            async with http.post(url, data=raw, headers=h) as r:
                return r.status

        assert await post(headers) == 200
        for fresh in ({"X-MFA-Timestamp": str(now + 600)}, {"X-MFA-Message-Id": "e-2"},
                      {"X-MFA-Timestamp": str(now + 600), "X-MFA-Message-Id": "e-2"}):
            assert await post({**headers, **fresh}) == 401, fresh
        old_raw, old = signed_request(SECRET, event, message_id="e-0", timestamp=now - 7200)
        async with http.post(url, data=old_raw, headers=old) as r:
            assert r.status == 400 and (await r.json())["error"] == "stale"
        sig = headers["X-MFA-Signature"]
        flipped = sig[:-1] + ("1" if sig.endswith("0") else "0")
        assert await post({**headers, "X-MFA-Message-Id": "e-3", "X-MFA-Signature": flipped}
                          ) == 401
    assert [json.loads(line)["id"] for line in (tmp_path / "events.jsonl").read_text()
            .splitlines()] == ["e-1"]
