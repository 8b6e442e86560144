"""Faults in Redis or Postgres give a 503 envelope; the service stays up and recovers alone."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from services.session.app import create_app
from tests.conftest import Ids, make_settings
from tests.support.redis_server import RedisServer
from tests.support.responses import assert_envelope
from tests.support.tcp_proxy import TcpProxy, via


@pytest.mark.parametrize("victim", ["redis", "postgres"])
async def test_store_outage_is_503_and_service_recovers(
        victim: str, aiohttp_server: Any, keys: dict[str, str], pg_url: str, redis_url: str
) -> None:
    target = urlsplit(redis_url if victim == "redis" else pg_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 0)
    await proxy.start()
    env = {"MFA_REDIS_URL": redis_url, "MFA_DATABASE_URL": pg_url}
    env["MFA_REDIS_URL" if victim == "redis" else "MFA_DATABASE_URL"] = via(
        redis_url if victim == "redis" else pg_url, proxy.port)
    settings = make_settings(keys, **env)
    srv = await aiohttp_server(create_app(settings))
    ids = Ids()
    body = {"userId": ids.user, "tenantId": ids.tenant, "email": ids.email}
    headers = {"Authorization": f"Bearer {settings.internal_api_key}"}
    url = str(srv.make_url("/internal/v1/mfa/sessions"))
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body, headers=headers) as r:
            assert r.status == 200
        await proxy.stop()
        for _ in range(2):
            async with http.post(url, json=body, headers=headers) as r:
                assert r.status == 503
                assert_envelope(await r.json())
        async with http.get(str(srv.make_url("/readyz"))) as r:
            assert r.status == 503
        await proxy.start()
        statuses = []
        for _ in range(3):  # a pooled connection cut by the outage is retried, not failed
            async with http.post(url, json=body, headers=headers) as r:
                statuses.append(r.status)
        assert statuses == [200] * 3, statuses
        async with http.get(str(srv.make_url("/readyz"))) as r:
            assert r.status == 200
    await proxy.stop()


async def test_no_failures_after_redis_restarts(aiohttp_server: Any, keys: dict[str, str],
                                                pg_url: str, own_redis: RedisServer) -> None:
    settings = make_settings(keys, MFA_REDIS_URL=own_redis.url, MFA_DATABASE_URL=pg_url)
    srv = await aiohttp_server(create_app(settings))
    url = str(srv.make_url("/internal/v1/mfa/sessions"))
    headers = {"Authorization": f"Bearer {settings.internal_api_key}"}

    async def login(http: aiohttp.ClientSession) -> int:
        ids = Ids()
        body = {"userId": ids.user, "tenantId": ids.tenant, "email": ids.email}
        async with http.post(url, json=body, headers=headers) as r:
            return r.status

    async def burst(http: aiohttp.ClientSession) -> list[int]:
        return list(await asyncio.gather(*(login(http) for _ in range(32))))

    async with aiohttp.ClientSession() as http:
        assert await burst(http) == [200] * 32  # fills the pool with live connections
        await own_redis.stop()
        await own_redis.start()  # same port, every pooled connection now stale
        assert await burst(http) == [200] * 32
        assert await burst(http) == [200] * 32


async def test_a_statement_waits_a_bounded_time_for_a_pooled_connection(pg_url: str) -> None:
    """Every pooled connection busy (as when each waits out its statement timeout on a
    silent Postgres): the next statement gives up after the acquire timeout (a 503), rather
    than queueing behind them."""
    from shared.stores.database import PostgresDatabase

    db = await PostgresDatabase.connect(pg_url, max_size=1, acquire_timeout=0.2)
    try:
        busy = asyncio.create_task(db.fetchrow("SELECT pg_sleep(2) AS slept"))
        await asyncio.sleep(0.3)  # the only connection is taken
        with pytest.raises(asyncio.TimeoutError):
            await db.fetchrow("SELECT 1 AS one")
        assert await busy == {"slept": None}  # the busy one finishes; the pool gives it back
        assert await db.fetchrow("SELECT 1 AS one") == {"one": 1}
    finally:
        await db.close()


async def test_a_full_redis_is_a_503_and_writes_resume_when_it_has_room(
        aiohttp_server: Any, keys: dict[str, str], pg_url: str, own_redis: RedisServer) -> None:
    """maxmemory reached under the deployment's `noeviction` policy: Redis refuses writes
    (OOM), a store fault (503 envelope). Every script's first write is one Redis checks for
    memory: a put that began with DEL went through a full Redis (and grew it)."""
    import redis.asyncio as aioredis

    settings = make_settings(keys, MFA_REDIS_URL=own_redis.url, MFA_DATABASE_URL=pg_url)
    srv = await aiohttp_server(create_app(settings))
    ids = Ids()
    body = {"userId": ids.user, "tenantId": ids.tenant, "email": ids.email}
    headers = {"Authorization": f"Bearer {settings.internal_api_key}"}
    url = str(srv.make_url("/internal/v1/mfa/sessions"))
    admin = aioredis.Redis.from_url(own_redis.url)
    try:
        await admin.config_set("maxmemory-policy", "noeviction")
        await admin.config_set("maxmemory", "1")
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=body, headers=headers) as r:
                assert r.status == 503
                assert_envelope(await r.json())
            await admin.config_set("maxmemory", "0")
            async with http.post(url, json=body, headers=headers) as r:
                assert r.status == 200
    finally:
        await admin.aclose()
