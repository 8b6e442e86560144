"""Graceful shutdown of a real process, and the Prometheus endpoint."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from typing import Any

import aiohttp
from aiohttp import web

from tests.conftest import Ids, Stack


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_sigterm_lets_in_flight_requests_finish(aiohttp_server: Any,
                                                      keys: dict[str, str]) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1.0)
        return web.json_response({"done": True})

    async def ready(request: web.Request) -> web.Response:
        return web.json_response({})

    upstream = web.Application()
    upstream.router.add_get("/readyz", ready)
    upstream.router.add_route("*", "/{tail:.*}", slow)
    up = await aiohttp_server(upstream)
    port = _free_port()
    env = {**os.environ, **keys, "MFA_PORT": str(port), "MFA_SESSION_URL": str(up.make_url("")),
           "MFA_SHUTDOWN_GRACE": "5", "MFA_LOG_LEVEL": "WARNING"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "gateway", env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(base + "/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)

            async def call() -> int:
                async with http.get(base + "/resources/users/v1/mfa/devices") as r:
                    return r.status

            in_flight = [asyncio.create_task(call()) for _ in range(20)]
            await asyncio.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            statuses = await asyncio.gather(*in_flight)
            assert statuses == [200] * 20
            assert await asyncio.wait_for(proc.wait(), 10) == 0
            try:
                async with http.get(base + "/healthz") as r:
                    refused = False
            except aiohttp.ClientConnectionError:
                refused = True
            assert refused
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_metrics_count_requests_and_verify_outcomes(stack: Stack, ids: Ids) -> None:
    await stack.get("/.well-known/jwks.json")
    await stack.get("/resources/configurations/v1/mfa-policy/allow-remember-device?mfaToken=x",
                    expected_status=401)
    text = await stack.get("/metrics", prefix="")
    assert 'mfa_http_requests_total{method="GET",route="/.well-known/jwks.json"' in text
    assert 'mfa_verify_total{factor="session",outcome="expired"}' in text
    assert ids.user not in text and "mfaToken" not in text
