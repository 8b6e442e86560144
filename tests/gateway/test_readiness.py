"""The gateway's /readyz reflects its upstreams' /readyz: a store down behind a service takes
the gateway out of rotation, and it comes back by itself."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.app import create_app as create_gateway
from services.session.app import create_app as create_session
from services.totp.app import create_app as create_totp
from tests.conftest import make_settings
from tests.support.redis_server import RedisServer
from tests.support.responses import assert_envelope


async def _ready(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url + "/readyz") as r:
        return r.status, await r.json()


async def test_gateway_is_not_ready_while_a_store_behind_it_is_down(
        aiohttp_server: Any, keys: dict[str, str], pg_url: str, own_redis: RedisServer) -> None:
    settings = make_settings(keys, MFA_REDIS_URL=own_redis.url, MFA_DATABASE_URL=pg_url)
    upstreams = {}
    for name, factory in (("session", create_session), ("totp", create_totp)):
        upstreams[name] = str((await aiohttp_server(factory(settings))).make_url("")).rstrip("/")
    gw = await aiohttp_server(create_gateway(settings, upstreams=upstreams))
    url = str(gw.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        assert (await _ready(http, url))[0] == 200
        await own_redis.stop()
        status, body = await _ready(http, url)
        assert status == 503
        assert_envelope(body)
        assert body["errorCode"] == "ER-MFA-NOT-READY"
        assert body["errors"] == ["Not ready"]
        await own_redis.start()
        status, body = await _ready(http, url)
        assert status == 200, body


async def test_an_upstream_that_hangs_is_not_ready(aiohttp_server: Any, keys: dict[str, str],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({})

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({})

    hanging, healthy = web.Application(), web.Application()
    hanging.router.add_get("/readyz", hang)
    healthy.router.add_get("/readyz", ok)
    upstreams = {"sms": str((await aiohttp_server(hanging)).make_url("")),
                 "email": str((await aiohttp_server(healthy)).make_url(""))}
    settings = make_settings(keys, MFA_READY_TIMEOUT="0.2")
    gw = await aiohttp_server(create_gateway(settings, upstreams=upstreams))
    async with aiohttp.ClientSession() as http:
        status, body = await _ready(http, str(gw.make_url("")).rstrip("/"))
    release.set()
    assert status == 503 and body["errors"] == ["Not ready"]
    named = [r.fields["upstreams"] for r in caplog.records  # type: ignore[attr-defined]
             if r.getMessage() == "upstreams not ready"]
    assert named == [["sms"]]  # the log says which one; the healthy one is not blamed
