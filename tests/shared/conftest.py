"""The store implementations every shared-store test runs against: Redis and memory, Postgres
and SQLite (the embedded ones must behave like the production ones)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.clock import FrozenClock
from shared.database import connect
from shared.ephemeral import Ephemeral, MemoryEphemeral, RedisEphemeral
from shared.migrate import migrate


@pytest.fixture(params=["memory", "redis"])
async def eph(request: pytest.FixtureRequest, clock: FrozenClock) -> AsyncIterator[Ephemeral]:
    """Each short-lived store implementation."""
    if request.param == "memory":
        yield MemoryEphemeral(clock)
        return
    url = request.getfixturevalue("redis_url")
    store = RedisEphemeral(url, prefix=f"test-{uuid.uuid4().hex[:8]}:")
    yield store
    await store.flush_prefix()
    await store.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Any]:
    """Each database implementation, migrated."""
    if request.param == "sqlite":
        database = await connect(f"sqlite:///{tmp_path}/t.sqlite3")
        await migrate(database, "up")
    else:
        database = await connect(request.getfixturevalue("pg_url"))
    yield database
    await database.close()
