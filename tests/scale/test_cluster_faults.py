"""A Redis Cluster node crashes under the split stack: requests whose keys live on it (and,
once the cluster calls itself down, all of them) get the 503 store-down envelope, never a
500; the node comes back with its slots and logins succeed again without a restart of the
services. The cluster is this test's own (scripts/scale-services on free ports)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from shared.clock import FrozenClock
from tests.conftest import Stack, make_settings, split_stack
from tests.support.scale_stores import Private, one_login

DEADLINE_S = 120.0
NODE = 1  # the first master's port offset


@pytest.fixture
async def cluster_stack(tmp_path: Path, aiohttp_server: Any, keys: dict[str, str],
                        clock: FrozenClock, pg_url: str) -> AsyncIterator[tuple[Stack, Private]]:
    """The split stack on a cluster of its own."""
    cluster = Private(tmp_path / "scale", "cluster")
    url = cluster.up()["cluster"]
    settings = make_settings(keys, MFA_DATABASE_URL=pg_url, MFA_REDIS_URL=url)
    try:
        async with aiohttp.ClientSession() as http, split_stack(aiohttp_server, settings,
                                                                 clock, http) as st:
            yield st, cluster
    finally:
        cluster.down()


async def test_a_crashed_node_is_a_503_and_logins_resume_when_it_returns(
        cluster_stack: tuple[Stack, Private]) -> None:
    st, cluster = cluster_stack
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    assert await one_login(st) is not None
    cluster.kill(NODE)
    other = aioredis.Redis(port=cluster.base + NODE + 1, username="mfa",
                           password=cluster.password())
    try:  # the others call the cluster down (cluster-node-timeout): every key is refused
        while b"cluster_state:fail" not in await other.execute_command("CLUSTER", "INFO"):
            assert loop.time() < deadline, "the cluster never noticed the dead node"
            await asyncio.sleep(0.1)
    finally:
        await other.aclose()
    refused = 0
    while refused < 3:  # one_login asserts every refusal is a 503 (401: a lost session)
        assert loop.time() < deadline, "the dead node's keys never failed"
        refused += await one_login(st) is None
    await asyncio.to_thread(cluster.up)  # the node restarts with its nodes.conf and slots
    ok = 0
    while ok < 10:  # ten new users: their keys spread over every node's slots
        assert loop.time() < deadline, "logins did not resume"
        if await one_login(st) is not None:
            ok += 1
        else:
            await asyncio.sleep(0.1)
