"""Redis under attack (docs/network-faults.md, Redis memory): whatever unauthenticated
traffic writes to Redis expires by itself. Every route of the gateway's OpenAPI document is
called without credentials (and with made-up ones), and a caller who holds an mfaToken (the
password was phished) sends wrong codes until the factor locks, asks for recovery, and starts
passkey logins; afterwards no key under the stack's prefix is without a TTL. With the
deployment's `maxmemory-policy noeviction` (deploy/), such keys would otherwise only grow."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from shared.clock import FrozenClock
from tests.conftest import PREFIX, Ids, Stack, make_settings, split_stack
from tests.support.codes import wrong_code
from tests.support.totp_flows import AUTH, code, enroll, login

LOCK_AT = 7


@pytest.fixture
async def own_prefix_stack(aiohttp_server: Any, keys: dict[str, str], pg_url: str,
                           redis_url: str) -> AsyncIterator[tuple[Stack, str]]:
    """The split stack with a Redis prefix of this test's own (every key it finds is this
    test's)."""
    prefix = f"mfa-ttl-{uuid.uuid4().hex[:10]}:"
    settings = make_settings(keys, MFA_DATABASE_URL=pg_url, MFA_REDIS_URL=redis_url,
                             MFA_REDIS_PREFIX=prefix, MFA_LOCKOUT_DELAY_AFTER="100",
                             MFA_LOCKOUT_MAX_FAILURES=str(LOCK_AT))
    async with aiohttp.ClientSession() as http, \
            split_stack(aiohttp_server, settings, FrozenClock(), http) as st:
        yield st, prefix


async def _sweep(st: Stack) -> int:
    """Every declared route, without credentials and with made-up ones; the requests sent."""
    async with st.http.get(st.url + "/openapi.json") as r:
        doc = await r.json()
    sent = 0
    bodies: list[Any] = [{}, {"mfaToken": "x" * 40, "value": "123456", "code": "123456",
                              "recoveryCode": "ABCD-EFGH", "email": "a@example.test",
                              "phoneNumber": "+15555550100", "deviceId": "d"}]
    for path, ops in doc["paths"].items():
        url = st.url + re.sub(r"\{[^}]+\}", "x", path)
        for method in ops:
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            for auth in ({}, {"Authorization": "Bearer not-a-token"}):
                for body in bodies:
                    async with st.http.request(method.upper(), url, json=body,
                                               headers=auth) as r:
                        await r.read()
                        assert r.status < 500, f"{method} {path}: {r.status}"
                        sent += 1
    return sent


async def test_unauthenticated_traffic_leaves_no_key_without_a_ttl(
        own_prefix_stack: tuple[Stack, str], redis_url: str) -> None:
    st, prefix = own_prefix_stack
    ids = Ids()
    seed, _ = await enroll(st, ids)
    # A phished password: an mfaToken, then wrong codes until the factor locks, and more.
    for _ in range(LOCK_AT + 3):
        token = await login(st, ids)
        async with st.http.post(st.url + PREFIX + f"{AUTH}/verify",
                                json={"mfaToken": token,
                                      "value": wrong_code(code(st, seed))}) as r:
            assert r.status in (400, 429), await r.text()
    async with st.http.post(st.url + PREFIX + "/resources/auth/v1/user/mfa/recover",
                            json={"email": ids.email, "recoveryCode": "ABCD-EFGH-IJKL"}) as r:
        assert r.status < 500
    assert await _sweep(st) > 50
    r = aioredis.Redis.from_url(redis_url)
    try:
        keys = [k async for k in r.scan_iter(match=prefix + "*", count=1000)]
        forever = [k for k in keys if await r.pttl(k) == -1]
        lock_keys = [k for k in keys if b":lock:" in k or k.startswith(prefix.encode() + b"lock")]
    finally:
        for k in keys:
            await r.delete(k)
        await r.aclose()
    assert lock_keys, keys  # the lockout record is among them (and has its TTL)
    assert not forever, f"keys without a TTL: {forever}"
