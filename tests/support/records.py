"""What the stores recorded about a test's user: outbox events and audit rows; and, in split
mode, other tests' outbox events marked done before a consumer starts."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.conftest import MODES, Ids, Stack


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
