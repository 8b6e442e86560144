"""Graceful shutdown of a real gateway process, and the Prometheus endpoint."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bench.procs import free_port
from tests.conftest import Ids, Stack
from tests.support.codes import wrong_code
from tests.support.gateway_process import STARTUP_S, Conn, GatewayProcess
from tests.support.totp_flows import AUTH, code, enroll, enrolled_user, lock_totp, login

DEVICES = "/resources/users/v1/mfa/devices"  # routed to the session upstream


async def _upstream(aiohttp_server: Any, handler: Any) -> str:
    """A real upstream: /readyz answers 200, everything else goes to handler."""
    async def ready(request: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/readyz", ready)
    app.router.add_route("*", "/{tail:.*}", handler)
    return str((await aiohttp_server(app)).make_url(""))


def _gateway(keys: dict[str, str], upstream: str) -> GatewayProcess:
    return GatewayProcess({**keys, "MFA_SESSION_URL": upstream, "MFA_SHUTDOWN_GRACE": "20",
                           "MFA_LOG_LEVEL": "WARNING"})


async def test_sigterm_lets_in_flight_requests_finish(aiohttp_server: Any,
                                                      keys: dict[str, str]) -> None:
    arrived, all_in, release = [0], asyncio.Event(), asyncio.Event()

    async def held(request: web.Request) -> web.Response:
        arrived[0] += 1
        if arrived[0] == 20:
            all_in.set()
        await release.wait()
        return web.json_response({"done": True})

    gw = _gateway(keys, await _upstream(aiohttp_server, held))
    await gw.start()
    try:
        async with aiohttp.ClientSession() as http:
            async def call() -> int:
                async with http.get(gw.base + DEVICES) as r:
                    return r.status

            in_flight = [asyncio.create_task(call()) for _ in range(20)]
            await asyncio.wait_for(all_in.wait(), STARTUP_S)  # all 20 are at the upstream
            assert gw.proc is not None
            gw.proc.send_signal(signal.SIGTERM)
            await gw.wait_listener_closed()
            release.set()
            assert await asyncio.gather(*in_flight) == [200] * 20
        assert await gw.wait_exit() == 0
    finally:
        release.set()
        await gw.kill()


async def test_drain_answers_requests_on_idle_keepalive_connections(
        aiohttp_server: Any, keys: dict[str, str]) -> None:
    async def fast(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    gw = _gateway(keys, await _upstream(aiohttp_server, fast))
    await gw.start()
    conns: list[Conn] = []
    try:
        for _ in range(4):
            conn = await Conn.open(gw.port)
            status, headers, _ = await conn.get(DEVICES)
            assert status == 200 and headers.get("connection", "").lower() != "close"
            conns.append(conn)  # now idle, kept alive
        assert gw.proc is not None
        gw.proc.send_signal(signal.SIGTERM)
        await gw.wait_listener_closed()  # draining: nobody new gets in
        for i, conn in enumerate(conns):
            status, headers, body = await conn.get("/readyz" if i == 0 else DEVICES)
            assert status == (503 if i == 0 else 200), body  # draining is not ready
            assert headers["connection"].lower() == "close"
            assert await conn.closed_by_peer()
        assert await gw.wait_exit() == 0  # every connection gone: the drain ends early
    finally:
        for conn in conns:
            conn.close()
        await gw.kill()


@pytest.fixture
def extra_env() -> dict[str, str]:
    """The gateway's internal metrics listener on a free port (off by default)."""
    return {"MFA_METRICS_PORT": str(free_port())}


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text page (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def test_metrics_count_requests_and_verify_outcomes(stack: Stack, ids: Ids) -> None:
    metrics = f"http://127.0.0.1:{stack.settings.metrics_port}/metrics"

    async def scrape() -> str:
        async with stack.http.get(metrics) as r:
            assert r.status == 200
            return await r.text()

    jwks = {"service": "session", "method": "GET", "route": "/.well-known/jwks.json",
            "status": "200"}
    expired = {"factor": "session", "outcome": "expired"}
    before = await scrape()
    await stack.get("/.well-known/jwks.json")
    await stack.get("/resources/configurations/v1/mfa-policy/allow-remember-device?mfaToken=x",
                    expected_status=401)
    after = await scrape()
    assert (_sample(after, "mfa_http_requests_total", **jwks)
            - _sample(before, "mfa_http_requests_total", **jwks)) == 1
    assert (_sample(after, "mfa_verify_total", **expired)
            - _sample(before, "mfa_verify_total", **expired)) == 1
    assert ids.user not in after and "mfaToken" not in after
    # The public listener never serves them, even with the internal one on.
    await stack.get("/metrics", prefix="", expected_status=404)


async def test_a_burned_mfa_token_is_counted_as_burned_not_expired(stack: Stack,
                                                                    ids: Ids) -> None:
    metrics = f"http://127.0.0.1:{stack.settings.metrics_port}/metrics"
    burned = {"factor": "session", "outcome": "burned"}
    expired = {"factor": "session", "outcome": "expired"}
    seed, _ = await enroll(stack, ids)
    token = await login(stack, ids)
    for _ in range(stack.settings.mfa_token_max_failures):
        await stack.post(f"{AUTH}/verify", {"mfaToken": token,
                                            "value": wrong_code(code(stack, seed))},
                         expected_status=400)
    async with stack.http.get(metrics) as r:
        before = await r.text()
    await stack.post(f"{AUTH}/verify", {"mfaToken": token, "value": code(stack, seed)},
                     expected_status=401)
    async with stack.http.get(metrics) as r:
        after = await r.text()
    assert (_sample(after, "mfa_verify_total", **burned)
            - _sample(before, "mfa_verify_total", **burned)) == 1
    assert _sample(after, "mfa_verify_total", **expired) == _sample(
        before, "mfa_verify_total", **expired)


async def test_lockouts_refusals_and_readiness_are_exported(stack: Stack, ids: Ids) -> None:
    """What the alerts of deploy/monitoring read: a factor reaching the tenant's threshold
    counts one lockout (with the tenant), the refusal after it one refused attempt, and a
    readiness check sets the readiness gauges."""
    metrics = f"http://127.0.0.1:{stack.settings.metrics_port}/metrics"
    seed = await enrolled_user(stack, ids)
    await stack.post("/resources/configurations/v1/lockout-policy",
                     {"enabled": True, "maxAttempts": 2}, expected_status=201,
                     headers={"Authorization": f"Bearer {stack.vendor_token(ids.tenant)}",
                              "frontegg-tenant-id": ids.tenant})
    async with stack.http.get(metrics) as r:
        before = await r.text()
    await lock_totp(stack, ids, seed, times=2)
    for _ in range(3):
        await stack.post(f"{AUTH}/verify", {"mfaToken": await login(stack, ids),
                                            "value": code(stack, seed)}, expected_status=429)
    await stack.get("/readyz", prefix="")
    async with stack.http.get(metrics) as r:
        after = await r.text()
    locked = {"factor": "totp", "tenant": ids.tenant}
    assert _sample(after, "mfa_lockouts_total", **locked) - _sample(
        before, "mfa_lockouts_total", **locked) == 1
    refused = {"factor": "totp", "reason": "locked"}
    assert _sample(after, "mfa_attempts_refused_total", **refused) - _sample(
        before, "mfa_attempts_refused_total", **refused) == 3
    assert _sample(after, "mfa_upstream_ready", upstream="totp") == 1
    assert _sample(after, "mfa_ready", service="totp") == 1
