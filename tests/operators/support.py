"""Helpers for the operators' tests: a user with factors, locked factors, their events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from tests.conftest import MODES, Ids, Stack
from tests.totp.support import AUTH, code, enroll, login, wrong

LOCK_ENV = {"MFA_LOCKOUT_DELAY_AFTER": "100", "MFA_LOCKOUT_MAX_FAILURES": "3"}


async def enrolled_user(stack: Stack, ids: Ids, *, remembered: bool = False) -> str:
    """A user with one authenticator (and a remembered device when asked); its seed."""
    seed, _ = await enroll(stack, ids)
    if remembered:
        await stack.stores.remembered.issue(ids.tenant, ids.user, 3600)
    return seed


async def lock_totp(stack: Stack, ids: Ids, seed: str, times: int = 3) -> None:
    """Fail the user's TOTP `times` times (3 locks it under LOCK_ENV)."""
    for _ in range(times):
        await stack.post(f"{AUTH}/verify", {"mfaToken": await login(stack, ids),
                                            "value": wrong(code(stack, seed))},
                         expected_status=400)


async def events(stack: Stack, ids: Ids) -> list[str]:
    """The user's outbox event types, in order."""
    return [e.type for e in await stack.stores.outbox.for_user(ids.tenant, ids.user)]


async def audit_rows(stack: Stack, ids: Ids, action: str) -> list[dict[str, Any]]:
    """The user's audit rows of one action."""
    return [r for r in await stack.stores.audit.for_user(ids.tenant, ids.user)
            if r["action"] == action]


async def others_events_done(request: pytest.FixtureRequest, done: str) -> None:
    """In split mode the run's shared database holds other tests' outbox events: mark them
    done (`done`: the SET clause) before a consumer of this test's starts."""
    if "split" not in MODES:
        return
    conn = await asyncpg.connect(request.getfixturevalue("pg_url"))
    try:
        await conn.execute(f"UPDATE outbox_events SET {done}")
    finally:
        await conn.close()


@asynccontextmanager
async def receiver(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                   ) -> AsyncIterator[str]:
    """An in-process HTTP endpoint on a free loopback port running `handler`; its URL."""
    from tests.support.redis_server import free_port

    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()
