"""The store implementations every shared-store test runs against: Redis and memory, Postgres
and SQLite (the embedded ones must behave like the production ones)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.clock import FrozenClock
from shared.stores.database import connect
from shared.stores.ephemeral import Ephemeral, MemoryEphemeral, RedisEphemeral
from shared.stores.migrate import migrate
from tests.conftest import scale_redis, via_pgbouncer

REDIS_FORMS = ["cluster", "cluster_tls", "sentinel", "sentinel_tls", "single_tls"]


@pytest.fixture(params=["memory", "redis", "redis_unix", *REDIS_FORMS])
async def eph(request: pytest.FixtureRequest, clock: FrozenClock) -> AsyncIterator[Ephemeral]:
    """Each short-lived store implementation; Redis also over a Unix socket, and as a Cluster,
    behind Sentinel and over TLS, each of those with an ACL user (scripts/scale-services)."""
    if request.param == "memory":
        yield MemoryEphemeral(clock)
        return
    if request.param in ("redis", "redis_unix"):
        url = request.getfixturevalue(request.param + "_url")
    else:
        url = scale_redis(request.getfixturevalue("scale_urls"), request.param)
    store = RedisEphemeral(url, prefix=f"test-{uuid.uuid4().hex[:8]}:")
    yield store
    await store.flush_prefix()
    await store.close()


@pytest.fixture(params=["sqlite", "postgres", "postgres_unix", "pgbouncer"])
async def db(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Any]:
    """Each database implementation, migrated; Postgres also over its Unix socket and through
    PgBouncer in transaction pooling mode (no statement cache)."""
    if request.param == "sqlite":
        database = await connect(f"sqlite:///{tmp_path}/t.sqlite3")
        await migrate(database, "up")
    elif request.param == "pgbouncer":
        url = via_pgbouncer(request.getfixturevalue("scale_urls"),
                            request.getfixturevalue("pg_url"))
        database = await connect(url, statement_cache_size=0)
    else:
        database = await connect(request.getfixturevalue(
            "pg_unix_url" if request.param == "postgres_unix" else "pg_url"))
    yield database
    await database.close()
