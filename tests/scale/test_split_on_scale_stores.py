"""The split stack (every service its own app behind the gateway) on each scale-out store:
Redis Cluster, Sentinel and a TLS Redis (each with an ACL user, plain and TLS), and Postgres
through PgBouncer in transaction pooling mode. A TOTP forced enrollment at login, a second
login, and the one-time rules (one winner among parallel correct codes, no mfaToken reused)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from shared.clock import FrozenClock
from tests.conftest import (
    Ids,
    Stack,
    make_settings,
    scale_redis,
    split_stack,
    via_pgbouncer,
)
from tests.support.totp_flows import AUTH, STEP, code

REDIS_FORMS = ["cluster", "cluster_tls", "sentinel", "sentinel_tls", "single_tls"]


@pytest.fixture(params=[*REDIS_FORMS, "pgbouncer"])
async def scale_stack(request: pytest.FixtureRequest, aiohttp_server: Any,
                      keys: dict[str, str], clock: FrozenClock,
                      scale_urls: dict[str, str]) -> AsyncIterator[Stack]:
    """The split stack with MFA_REDIS_URL or MFA_DATABASE_URL on one scale-out store."""
    pg = request.getfixturevalue("pg_url")
    env = {"MFA_DATABASE_URL": pg, "MFA_REDIS_URL": request.getfixturevalue("redis_url")}
    if request.param == "pgbouncer":
        env.update(MFA_DATABASE_URL=via_pgbouncer(scale_urls, pg),
                   MFA_DATABASE_STATEMENT_CACHE="0")
    else:
        env["MFA_REDIS_URL"] = scale_redis(scale_urls, request.param)
    settings = make_settings(keys, **env)
    async with aiohttp.ClientSession() as http, split_stack(aiohttp_server, settings, clock,
                                                             http) as st:
        yield st


async def verify(stack: Stack, token: str, value: str) -> aiohttp.ClientResponse:
    """POST the login box's verify, the answer unread (statuses only)."""
    async with stack.http.post(f"{stack.url}/frontegg/identity{AUTH}/verify",
                               json={"mfaToken": token, "value": value}) as r:
        await r.read()
        return r


async def test_totp_enroll_and_login_on_each_store(scale_stack: Stack, ids: Ids) -> None:
    st = scale_stack
    start = await st.start_session(ids)
    first = await st.post(f"{AUTH}/verify", {"mfaToken": start["mfaToken"],
                                             "value": code(st, start["secret"])})
    assert first["recoveryCode"] == start["recoveryCode"] and first["accessToken"]
    await st.post(f"{AUTH}/verify", {"mfaToken": start["mfaToken"], "value": "000000"},
                  expected_status=401)  # the mfaToken was consumed
    st.clock.advance(STEP)
    token = (await st.start_session(ids))["mfaToken"]
    right = code(st, start["secret"])
    answers = await asyncio.gather(*(verify(st, token, right) for _ in range(10)))
    assert sorted(r.status for r in answers).count(200) == 1, [r.status for r in answers]
    assert {r.status for r in answers} <= {200, 400, 401, 429}  # replay, used, delayed
    devices = await st.stores.devices.list_for_user(ids.tenant, ids.user, "totp")
    assert len(devices) == 1
